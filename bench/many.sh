#!/bin/bash
# bench/many.sh - tracemem run of programs that start many processes, two
# builds side by side (OLD and NEW build trees), interleaved: make -j2 of a
# 7-file C project, and a bash script that starts 450 processes; with the
# program untraced and under the shim alone for reference. Writes only
# under BENCH_OUT (default /tmp/tracemem-bench-many).
#
# Usage: bench/many.sh OLD_BUILD_DIR NEW_BUILD_DIR
set -u
old=$(cd "$1" && pwd) && new=$(cd "$2" && pwd) || { echo "usage: $0 OLD_BUILD NEW_BUILD" >&2; exit 2; }
out=${BENCH_OUT:-/tmp/tracemem-bench-many}
mkdir -p "$out/proj" && cd "$out/proj" || exit 2
for i in 1 2 3 4 5 6; do
    printf '#include <stdlib.h>\nint f%d(int x){char *p=malloc(x);int r=p!=0;free(p);return r;}\n' $i > f$i.c
done
printf 'int main(void){return 0;}\n' > main.c
printf 'OBJS=f1.o f2.o f3.o f4.o f5.o f6.o main.o\nprog: $(OBJS)\n\tcc -o $@ $(OBJS)\nclean:\n\trm -f *.o prog\n' > Makefile
cat > forks.sh <<'SH'
#!/bin/bash
for i in $(seq 1 150); do echo $i | cat >/dev/null; x=$(echo $i); /bin/true; done
SH
chmod +x forks.sh
t() { local s=$EPOCHREALTIME; "$@" > /dev/null 2>&1; local e=$EPOCHREALTIME; echo "$s $e" | awk '{printf "%.2f", $2-$1}'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2 3; do
  for v in old new; do
    d=$old; [ $v = new ] && d=$new
    make clean > /dev/null; rm -rf o; mkdir o
    echo "make $v $(t $d/tracemem run -o $out/proj/o/t.%p.json -- make -j2 -s)"
  done
  make clean > /dev/null; echo "make untraced $(t make -j2 -s)"; make clean >/dev/null
  echo "make shim-only $(t env LD_PRELOAD=$new/.libs/libtracemem.so TRACEMEM_OUTPUT=$out/proj/o/s.%p.json make -j2 -s)"; make clean >/dev/null
done
for r in 1 2; do
  for v in old new; do
    d=$old; [ $v = new ] && d=$new
    rm -rf o; mkdir o
    echo "forks $v $(t $d/tracemem run -o $out/proj/o/t.%p.json -- ./forks.sh)"
  done
  echo "forks untraced $(t ./forks.sh)"
  rm -rf o; mkdir o; echo "forks shim-only $(t env LD_PRELOAD=$new/.libs/libtracemem.so TRACEMEM_OUTPUT=$out/proj/o/s.%p.json ./forks.sh)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
