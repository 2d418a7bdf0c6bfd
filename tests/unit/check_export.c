/* check_export.c - Check suite "export": the protobuf encoder against the
 * examples of the protobuf encoding guide, the pprof profile of
 * tests/data/cli-a.json read back with a small decoder, the speedscope
 * document, and gzip output.
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "report/export.h"
#include "report/protobuf.h"
#include "test_data.h"

static tm_snapshot *a;

static void setup(void)
{
    a = tm_test_load("cli-a.json");
}

static void teardown(void)
{
    tm_snapshot_free(a);
}

static void assert_bytes(const tm_pb *pb, const char *want, size_t len)
{
    ck_assert_int_eq(tm__pb_failed(pb), 0);
    ck_assert_uint_eq(pb->len, len);
    ck_assert_int_eq(memcmp(pb->data, want, len), 0);
}

/* --- the encoder --- */

START_TEST(test_export_pb_varints)
{
    tm_pb pb = {0};

    tm__pb_varint(&pb, 0);
    tm__pb_varint(&pb, 1);
    tm__pb_varint(&pb, 127);
    tm__pb_varint(&pb, 128);
    tm__pb_varint(&pb, 300);
    assert_bytes(&pb, "\x00\x01\x7f\x80\x01\xac\x02", 7);
    tm__pb_reset(&pb);
    tm__pb_varint(&pb, UINT64_MAX);
    assert_bytes(&pb, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
    tm__pb_free(&pb);
}
END_TEST

START_TEST(test_export_pb_fields)
{
    tm_pb pb = {0};

    /* the guide's Test1 { a: 150 } and Test2 { b: "testing" } */
    tm__pb_uint(&pb, 1, 150);
    assert_bytes(&pb, "\x08\x96\x01", 3);
    tm__pb_reset(&pb);
    tm__pb_string(&pb, 2, "testing");
    assert_bytes(&pb, "\x12\x07testing", 9);
    /* int64 -1: ten bytes of two's complement */
    tm__pb_reset(&pb);
    tm__pb_int(&pb, 1, -1);
    assert_bytes(&pb, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    /* a large field number needs a two-byte key */
    tm__pb_reset(&pb);
    tm__pb_uint(&pb, 150, 1);
    assert_bytes(&pb, "\xb0\x09\x01", 3);
    tm__pb_free(&pb);
}
END_TEST

START_TEST(test_export_pb_nested_and_packed)
{
    tm_pb pb = {0}, msg = {0}, scratch = {0};
    const uint64_t v[] = {3, 270, 86942};

    /* Test3 { c: Test1 { a: 150 } } */
    tm__pb_uint(&msg, 1, 150);
    tm__pb_message(&pb, 3, &msg);
    assert_bytes(&pb, "\x1a\x03\x08\x96\x01", 5);
    /* Test5 { repeated int32 f = 6 [packed] } = [3, 270, 86942] */
    tm__pb_reset(&pb);
    tm__pb_packed_uint(&pb, 6, v, 3, &scratch);
    assert_bytes(&pb, "\x32\x06\x03\x8e\x02\x9e\xa7\x05", 8);
    /* an empty message is a key and a zero length */
    tm__pb_reset(&pb);
    tm__pb_reset(&msg);
    tm__pb_message(&pb, 2, &msg);
    assert_bytes(&pb, "\x12\x00", 2);
    tm__pb_free(&pb);
    tm__pb_free(&msg);
    tm__pb_free(&scratch);
}
END_TEST

/* --- a small decoder for the pprof checks --- */

typedef struct reader {
    const unsigned char *p, *end;
} reader;

static uint64_t rd_varint(reader *r)
{
    uint64_t v = 0;

    for (int shift = 0; r->p < r->end; shift += 7) {
        unsigned char b = *r->p++;

        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    ck_abort_msg("truncated varint");
    return 0;
}

/* Next field: its number, wire type, and for LEN fields a sub-reader. */
static int rd_field(reader *r, unsigned *field, uint64_t *v, reader *sub)
{
    uint64_t key;

    if (r->p >= r->end)
        return 0;
    key = rd_varint(r);
    *field = (unsigned)(key >> 3);
    if ((key & 7) == 0) {
        *v = rd_varint(r);
        return 1;
    }
    ck_assert_uint_eq(key & 7, 2);
    *v = rd_varint(r);
    ck_assert_uint_le(*v, (uint64_t)(r->end - r->p));
    sub->p = r->p;
    sub->end = r->p + *v;
    r->p += *v;
    return 1;
}

START_TEST(test_export_pprof_decodes)
{
    unsigned char *proto;
    size_t len, nsamples = 0, nstrings = 0, nmappings = 0, nlocations = 0;
    uint64_t sums[4] = {0}, v;
    unsigned field;
    reader r, sub;
    char first_string[8] = "?";

    ck_assert_int_eq(tm_export_pprof_proto(a, &proto, &len, NULL), 0);
    r = (reader){proto, proto + len};
    while (rd_field(&r, &field, &v, &sub)) {
        if (field == 2) { /* Sample: values in field 2, packed */
            reader s2;
            unsigned f2;
            uint64_t v2;

            nsamples++;
            while (rd_field(&sub, &f2, &v2, &s2))
                if (f2 == 2)
                    for (int k = 0; k < 4; k++)
                        sums[k] += rd_varint(&s2);
        } else if (field == 3) {
            nmappings++;
        } else if (field == 4) {
            nlocations++;
        } else if (field == 6) {
            if (nstrings++ == 0)
                snprintf(first_string, sizeof first_string, "%.*s", (int)(sub.end - sub.p),
                         (const char *)sub.p);
        }
    }
    /* t6 has no live blocks but allocated 100000 B: still a sample */
    ck_assert_uint_eq(nsamples, 7);
    ck_assert_uint_eq(sums[0], 6160);
    ck_assert_uint_eq(sums[1], 22);
    ck_assert_uint_eq(sums[2], 2000 + 500 + 8192 + 300 + 64 + 200 + 100000);
    ck_assert_uint_eq(sums[3], 20 + 5 + 2 + 3 + 1 + 2 + 1000);
    ck_assert_uint_eq(nmappings, a->nmodules);
    ck_assert_uint_eq(nlocations, a->nframes);
    ck_assert_str_eq(first_string, "");
    free(proto);
}
END_TEST

START_TEST(test_export_gzip_roundtrip)
{
    static const char text[] = "tracemem tracemem tracemem tracemem";
    char *buf = NULL, out[128];
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    z_stream z;

    ck_assert_int_eq(tm_gzip_write(text, sizeof text, fp, NULL), 0);
    fclose(fp);
    ck_assert_uint_ge(len, 18);
    ck_assert_int_eq((unsigned char)buf[0], 0x1f);
    ck_assert_int_eq((unsigned char)buf[1], 0x8b);
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (unsigned char *)buf;
    z.avail_in = (uInt)len;
    z.next_out = (unsigned char *)out;
    z.avail_out = sizeof out;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.total_out, sizeof text);
    ck_assert_str_eq(out, text);
    inflateEnd(&z);
    free(buf);
}
END_TEST

/* --- speedscope --- */

START_TEST(test_export_speedscope)
{
    json_t *doc = tm_export_speedscope(a, TM_METRIC_LIVE, 0, NULL);
    json_t *prof, *frames, *samples, *weights, *s0;
    json_int_t sum = 0;

    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "$schema")),
                     "https://www.speedscope.app/file-format-schema.json");
    prof = json_array_get(json_object_get(doc, "profiles"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(prof, "type")), "sampled");
    ck_assert_str_eq(json_string_value(json_object_get(prof, "unit")), "bytes");
    ck_assert_int_eq(json_integer_value(json_object_get(prof, "endValue")), 6160);
    samples = json_object_get(prof, "samples");
    weights = json_object_get(prof, "weights");
    ck_assert_uint_eq(json_array_size(samples), 6);
    ck_assert_uint_eq(json_array_size(weights), 6);
    for (size_t i = 0; i < json_array_size(weights); i++)
        sum += json_integer_value(json_array_get(weights, i));
    ck_assert_int_eq(sum, 6160);
    /* t0: main <- build_tree <- alloc_node, outermost first, and frames
     * keep file and line */
    frames = json_object_get(json_object_get(doc, "shared"), "frames");
    s0 = json_array_get(samples, 0);
    ck_assert_uint_eq(json_array_size(s0), 3);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(frames, json_integer_value(json_array_get(s0, 0))), "name")),
                     "main");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(frames, json_integer_value(json_array_get(s0, 2))), "name")),
                     "alloc_node");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(frames, json_integer_value(json_array_get(s0, 2))), "line")),
                     12);
    json_decref(doc);
}
END_TEST

START_TEST(test_export_speedscope_missing_data)
{
    tm_error err = {""};

    ck_assert_ptr_null(tm_export_speedscope(a, TM_METRIC_LEAKED, 0, &err));
    ck_assert_ptr_nonnull(strstr(err.what, "no leak check"));
    ck_assert_int_eq(tm_export_format_parse("pprof"), TM_EXPORT_PPROF);
    ck_assert_int_eq(tm_export_format_parse("json"), -1);
}
END_TEST

static Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("protobuf");

    tcase_add_test(tc, test_export_pb_varints);
    tcase_add_test(tc, test_export_pb_fields);
    tcase_add_test(tc, test_export_pb_nested_and_packed);
    tcase_add_test(tc, test_export_gzip_roundtrip);
    suite_add_tcase(s, tc);

    tc = tcase_create("formats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_export_pprof_decodes);
    tcase_add_test(tc, test_export_speedscope);
    tcase_add_test(tc, test_export_speedscope_missing_data);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(export_suite());
}
