/* protobuf.c - the minimal Protocol Buffers encoder of protobuf.h. */
#include "config.h"

#include "report/protobuf.h"

#include <stdlib.h>
#include <string.h>

static int reserve(tm_pb *pb, size_t more)
{
    size_t ncap;
    unsigned char *nd;

    if (pb->failed)
        return -1;
    if (pb->len + more <= pb->cap)
        return 0;
    ncap = pb->cap ? pb->cap : 256;
    while (ncap < pb->len + more)
        ncap *= 2;
    if (!(nd = realloc(pb->data, ncap))) {
        pb->failed = 1;
        return -1;
    }
    pb->data = nd;
    pb->cap = ncap;
    return 0;
}

static void append(tm_pb *pb, const void *data, size_t len)
{
    if (len == 0 || reserve(pb, len))
        return;
    memcpy(pb->data + pb->len, data, len);
    pb->len += len;
}

void tm__pb_reset(tm_pb *pb)
{
    pb->len = 0;
    pb->failed = 0;
}

void tm__pb_free(tm_pb *pb)
{
    free(pb->data);
    memset(pb, 0, sizeof *pb);
}

void tm__pb_varint(tm_pb *pb, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;

    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    append(pb, b, n);
}

static void key(tm_pb *pb, unsigned field, unsigned wire)
{
    tm__pb_varint(pb, ((uint64_t)field << 3) | wire);
}

void tm__pb_uint(tm_pb *pb, unsigned field, uint64_t v)
{
    key(pb, field, TM_PB_VARINT);
    tm__pb_varint(pb, v);
}

void tm__pb_int(tm_pb *pb, unsigned field, int64_t v)
{
    tm__pb_uint(pb, field, (uint64_t)v);
}

void tm__pb_bytes(tm_pb *pb, unsigned field, const void *data, size_t len)
{
    key(pb, field, TM_PB_LEN);
    tm__pb_varint(pb, len);
    append(pb, data, len);
}

void tm__pb_string(tm_pb *pb, unsigned field, const char *s)
{
    tm__pb_bytes(pb, field, s, strlen(s));
}

void tm__pb_message(tm_pb *pb, unsigned field, const tm_pb *msg)
{
    if (msg->failed)
        pb->failed = 1;
    tm__pb_bytes(pb, field, msg->data, msg->len);
}

void tm__pb_packed_uint(tm_pb *pb, unsigned field, const uint64_t *v, size_t n, tm_pb *scratch)
{
    tm__pb_reset(scratch);
    for (size_t i = 0; i < n; i++)
        tm__pb_varint(scratch, v[i]);
    tm__pb_message(pb, field, scratch);
}

void tm__pb_packed_int(tm_pb *pb, unsigned field, const int64_t *v, size_t n, tm_pb *scratch)
{
    tm__pb_reset(scratch);
    for (size_t i = 0; i < n; i++)
        tm__pb_varint(scratch, (uint64_t)v[i]);
    tm__pb_message(pb, field, scratch);
}
