/* protobuf.h - a minimal Protocol Buffers encoder: just what writing a
 * pprof profile.proto needs (varints, length-delimited fields, packed
 * repeated varints, nested messages).
 *
 * A message is built in a tm_pb buffer; a nested message is built in a
 * buffer of its own and added to its parent with tm__pb_message(). The
 * first failed allocation makes the buffer sticky-failed: later calls do
 * nothing and tm__pb_failed() says so, so callers check once at the end.
 * Encodings follow https://protobuf.dev/programming-guides/encoding/:
 * int64 values are written as 10-byte two's complement varints when
 * negative, like every protobuf library does.
 */
#ifndef TM_REPORT_PROTOBUF_H
#define TM_REPORT_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tm_pb {
    unsigned char *data;
    size_t len, cap;
    int failed; /* an allocation failed; 'data' is incomplete */
} tm_pb;

/* Wire types. */
#define TM_PB_VARINT 0
#define TM_PB_LEN 2

/* Empties 'pb' (keeps its memory) / releases its memory. */
void tm__pb_reset(tm_pb *pb);
void tm__pb_free(tm_pb *pb);
static inline int tm__pb_failed(const tm_pb *pb)
{
    return pb->failed;
}

/* A bare varint (no field key). */
void tm__pb_varint(tm_pb *pb, uint64_t v);

/* Field 'field' as a varint: uint64, and int64 (two's complement). A zero
 * value is written too (proto3 would skip it; readers accept both). */
void tm__pb_uint(tm_pb *pb, unsigned field, uint64_t v);
void tm__pb_int(tm_pb *pb, unsigned field, int64_t v);

/* Field 'field' as length-delimited bytes (strings, packed arrays, nested
 * messages). */
void tm__pb_bytes(tm_pb *pb, unsigned field, const void *data, size_t len);
void tm__pb_string(tm_pb *pb, unsigned field, const char *s);
void tm__pb_message(tm_pb *pb, unsigned field, const tm_pb *msg);

/* Field 'field' as a packed repeated uint64 / int64. 'scratch' is a buffer
 * for the packed payload, reused between calls. */
void tm__pb_packed_uint(tm_pb *pb, unsigned field, const uint64_t *v, size_t n, tm_pb *scratch);
void tm__pb_packed_int(tm_pb *pb, unsigned field, const int64_t *v, size_t n, tm_pb *scratch);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_PROTOBUF_H */
