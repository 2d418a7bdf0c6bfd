int tm__placeholder;
