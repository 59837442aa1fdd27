/*
 * pont.h: the Pont adapter ABI, version 1 (sdk-wasm/ABI.md), for an adapter
 * written in C11 and built with clang for wasm32-wasi as a reactor. It holds
 * what any adapter needs around its own logic: the host's imports, the two
 * exports, one call's memory, byte buffers, the configuration, an HTTP GET
 * and the decoding of its body to UTF-8, and the answer. The adapter itself
 * (padro.c here) defines pont_adapter and nothing else of the ABI.
 *
 * Memory: everything a call allocates comes from an arena that the next
 * call's pont_alloc empties. That is exactly the lifetime ABI.md section 2
 * asks for (the input stays until pont_handle returns, the answer until the
 * next call into the instance), and it leaves an adapter no free() to forget.
 */
#ifndef PONT_H
#define PONT_H

#include <stddef.h>
#include <stdint.h>

/* The host's functions (ABI.md section 4). A result of variable length comes
 * as a handle: (handle << 32) | length; pont_read copies it out. */
__attribute__((import_module("pont"), import_name("log")))
void pont_host_log(int32_t level, const char *ptr, uint32_t len);
__attribute__((import_module("pont"), import_name("http_call")))
int64_t pont_host_http_call(const char *ptr, uint32_t len);
__attribute__((import_module("pont"), import_name("config_get")))
int64_t pont_host_config_get(const char *ptr, uint32_t len);
__attribute__((import_module("pont"), import_name("read")))
int32_t pont_host_read(uint32_t handle, void *ptr);

/* The log levels of pont_host_log. Never log personal data. */
enum { PONT_DEBUG = 0, PONT_INFO = 1, PONT_WARN = 2, PONT_ERROR = 3 };

/* The answer's error codes (ABI.md section 3.2). */
#define PONT_SUBJECT_NOT_FOUND "subject_not_found"
#define PONT_SOURCE_UNAVAILABLE "source_unavailable"
#define PONT_INVALID_PARAMS "invalid_params"
#define PONT_MISCONFIGURED "misconfigured"

/* A view of bytes that something else owns: the input, the arena. */
typedef struct {
	const char *p;
	size_t n;
} pont_str;

/* pont_lit is a view of a string literal. */
#define pont_lit(s) ((pont_str){(s), sizeof(s) - 1})

/* A byte buffer that grows in the call's arena; the zero value is empty. */
typedef struct {
	char *p;
	size_t n, cap;
} pont_buf;

/* pont_arena_alloc returns n bytes, 16-aligned, that live until the next
 * call's pont_alloc. It never returns NULL: out of memory, it traps, and the
 * broker answers adapter_failed (ABI.md section 7). */
void *pont_arena_alloc(size_t n);

void pont_buf_reserve(pont_buf *b, size_t more);
void pont_buf_put(pont_buf *b, const void *p, size_t n);
void pont_buf_putc(pont_buf *b, char c);
void pont_buf_puts(pont_buf *b, const char *s);
void pont_buf_putu(pont_buf *b, uint64_t v);
/* pont_buf_put_rune appends the UTF-8 encoding of the code point r. */
void pont_buf_put_rune(pont_buf *b, uint32_t r);
pont_str pont_buf_str(const pont_buf *b);

int pont_str_eq(pont_str s, const char *lit);

/* pont_utf8_seq returns the length of the valid UTF-8 sequence at s (n
 * bytes left), or 0 when s[0] does not start one: a stray byte, an overlong
 * form, a surrogate, a sequence cut short. It decides as Go's
 * utf8.DecodeRune does, so that invalid bytes become U+FFFD exactly where
 * the Go adapters replace them. */
size_t pont_utf8_seq(const unsigned char *s, size_t n);

/* pont_config reads the configuration value of key (ABI.md 4.3). It
 * returns 0 when the key has no value, as config_get's -1 says. */
int pont_config(const char *key, pont_str *value);

/* The result of an HTTP request (ABI.md 4.2). */
typedef struct {
	/* failed is set when the host refused or failed the request; code and
	 * message are then the host's (host_not_allowed, timeout, too_large,
	 * network, bad_request). */
	int failed;
	pont_str code, message;
	/* Otherwise status, the body's bytes as the source sent them (from
	 * body or body_base64) and the Content-Type's charset, lowercased,
	 * empty when the source declared none. */
	int status;
	pont_str body, charset;
} pont_response;

/* pont_http_get asks the host to GET url. A result the adapter cannot read
 * is reported as a failure with code bad_request. */
void pont_http_get(pont_str url, pont_response *resp);

/* pont_text decodes resp's body to UTF-8 from the charset the source
 * declared: utf-8 (or none), us-ascii, iso-8859-1, windows-1252 and
 * iso-8859-15, with their usual aliases. It returns 0, or -1 with the
 * reason (which names the charset, never the body) appended to why. */
int pont_text(const pont_response *resp, pont_str *text, pont_buf *why);

/* The answer of one call (ABI.md 3.2): data, a JSON object, when code is
 * NULL; else the error code and its message, which reaches the requester
 * and the logs and so must hold no personal data. */
typedef struct {
	pont_buf data;
	const char *code;
	pont_buf message;
} pont_answer;

/* pont_error sets the answer's error code and returns its message buffer,
 * empty, for the caller to write. */
pont_buf *pont_error(pont_answer *a, const char *code);

/* pont_adapter answers one query, the input JSON of ABI.md 3.1. The adapter
 * defines it; pont_handle calls it once per call. */
void pont_adapter(pont_str input, pont_answer *answer);

#endif
