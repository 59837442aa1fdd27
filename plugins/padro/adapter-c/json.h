/*
 * json.h: the small JSON reader and writer an adapter needs, without a
 * third-party library.
 *
 * The reader reads as the Go reference adapters' reader does
 * (sdk-wasm/jsonread), so that this adapter answers byte for byte what its
 * Go twin answers, errors included: the whole input must be valid JSON;
 * unknown keys are skipped; null reads as an empty string, or as no object;
 * a value of the wrong type is an error; strings are unescaped, with invalid
 * UTF-8 and lone surrogates replaced by U+FFFD. It keeps the first error,
 * which names a byte position and never the input's text (an error message
 * reaches the requester), and turns every later read into a no-op.
 *
 * Nothing recurses: a source's answer nested a million levels deep is
 * skipped with a heap stack, not the Wasm stack.
 */
#ifndef PONT_JSON_H
#define PONT_JSON_H

#include "pont.h"

typedef struct {
	const unsigned char *b;
	size_t n, i;
	int failed;
	char err[96]; /* "at byte N: what", once failed */
} json_reader;

/* An object being read: see json_object. */
typedef struct {
	int state;
} json_iter;

void json_init(json_reader *r, pont_str text);

/* json_null consumes a null and reports whether there was one. */
int json_null(json_reader *r);

/* json_object starts reading an object and reports whether there is one:
 * null is no object and no error. Then each json_next reads a key and
 * leaves the reader at its value, which the caller must read or skip;
 * json_next returns 0 after the last one (or at an error):
 *
 *	json_iter it;
 *	pont_str key;
 *	if (json_object(r, &it))
 *		while (json_next(r, &it, &key))
 *			if (pont_str_eq(key, "codi")) c.codi = json_string(r);
 *			else json_skip(r);
 */
int json_object(json_reader *r, json_iter *it);
int json_next(json_reader *r, json_iter *it, pont_str *key);

/* json_string reads a string; null reads as an empty one. */
pont_str json_string(json_reader *r);

/* json_skip reads any value, checking that it is valid JSON. */
void json_skip(json_reader *r);

/* json_raw reads any value and returns its text as it is. */
pont_str json_raw(json_reader *r);

/* json_end checks that only white space follows the value read, and
 * returns 0, or -1 when the reader failed. */
int json_end(json_reader *r);

/* json_put_string appends s as a JSON string, as the Go SDK writes one:
 * '"' and '\\' escaped, \n \r \t by name, other control characters as
 * \u00XX, U+2028 and U+2029 as \u2028 and \u2029, invalid UTF-8 as
 * \ufffd; nothing else escaped. */
void json_put_string(pont_buf *b, pont_str s);

/* An object being written. */
typedef struct {
	pont_buf *b;
	int fields;
} json_obj;

/* json_begin writes '{' to b; json_begin_in writes "key":{ into parent. */
json_obj json_begin(pont_buf *b);
json_obj json_begin_in(json_obj *parent, const char *key);
/* json_put writes "key":"v". */
void json_put(json_obj *o, const char *key, pont_str v);
/* json_end_obj writes '}'. */
void json_end_obj(json_obj *o);

#endif
