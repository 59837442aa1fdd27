/*
 * pont.c: the ABI side of pont.h: the exports, the arena, the host's
 * configuration and HTTP, and the answer JSON.
 */
#include "pont.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

#define EMPTY ((pont_str){"", 0})

/* ---- One call's memory. ---- */

/* A chunk of the arena: its header, then size bytes, used of them taken. */
struct chunk {
	struct chunk *next;
	size_t size, used;
};

#define HEADER ((sizeof(struct chunk) + 15) & ~(size_t)15)
#define CHUNK (64 * 1024)

/* chunks is the arena, newest first. */
static struct chunk *chunks;

static struct chunk *new_chunk(size_t size)
{
	struct chunk *c;

	if (size > SIZE_MAX - HEADER)
		__builtin_trap();
	c = malloc(HEADER + size);
	if (!c)
		/* Past the adapter's memory limit: the broker answers
		 * adapter_failed and replaces the instance. */
		__builtin_trap();
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

void *pont_arena_alloc(size_t n)
{
	size_t need;
	struct chunk *c;

	if (n > SIZE_MAX - 15)
		__builtin_trap();
	need = (n + 15) & ~(size_t)15;
	if (need > CHUNK / 4) {
		/* A large block (a source's body) gets a chunk of its own,
		 * behind the current one, whose free space stays in use. */
		c = new_chunk(need);
		c->used = need;
		if (chunks) {
			c->next = chunks->next;
			chunks->next = c;
		} else {
			chunks = c;
		}
		return (char *)c + HEADER;
	}
	if (!chunks || chunks->size - chunks->used < need) {
		c = new_chunk(CHUNK);
		c->next = chunks;
		chunks = c;
	}
	c = chunks;
	c->used += need;
	return (char *)c + HEADER + c->used - need;
}

/* arena_reset frees the last call's memory, its input and answer included,
 * and keeps one chunk for the next. */
static void arena_reset(void)
{
	struct chunk *keep = NULL;

	while (chunks) {
		struct chunk *c = chunks;
		chunks = c->next;
		if (!keep && c->size == CHUNK) {
			keep = c;
			continue;
		}
		free(c);
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
		chunks = keep;
	}
}

/* ---- Buffers. ---- */

void pont_buf_reserve(pont_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->cap - b->n >= more)
		return;
	if (more > SIZE_MAX / 2 - b->n)
		__builtin_trap();
	cap = b->cap ? b->cap * 2 : 64;
	while (cap - b->n < more)
		cap *= 2;
	p = pont_arena_alloc(cap);
	if (b->n)
		memcpy(p, b->p, b->n);
	b->p = p;
	b->cap = cap;
}

void pont_buf_put(pont_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	pont_buf_reserve(b, n);
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

void pont_buf_putc(pont_buf *b, char c)
{
	pont_buf_reserve(b, 1);
	b->p[b->n++] = c;
}

void pont_buf_puts(pont_buf *b, const char *s)
{
	pont_buf_put(b, s, strlen(s));
}

void pont_buf_putu(pont_buf *b, uint64_t v)
{
	char digits[20];
	size_t k = sizeof digits;

	do {
		digits[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	pont_buf_put(b, digits + k, sizeof digits - k);
}

void pont_buf_put_rune(pont_buf *b, uint32_t r)
{
	if (r > 0x10FFFF || (r >= 0xD800 && r < 0xE000))
		r = 0xFFFD;
	if (r < 0x80) {
		pont_buf_putc(b, (char)r);
	} else if (r < 0x800) {
		pont_buf_putc(b, (char)(0xC0 | r >> 6));
		pont_buf_putc(b, (char)(0x80 | (r & 0x3F)));
	} else if (r < 0x10000) {
		pont_buf_putc(b, (char)(0xE0 | r >> 12));
		pont_buf_putc(b, (char)(0x80 | (r >> 6 & 0x3F)));
		pont_buf_putc(b, (char)(0x80 | (r & 0x3F)));
	} else {
		pont_buf_putc(b, (char)(0xF0 | r >> 18));
		pont_buf_putc(b, (char)(0x80 | (r >> 12 & 0x3F)));
		pont_buf_putc(b, (char)(0x80 | (r >> 6 & 0x3F)));
		pont_buf_putc(b, (char)(0x80 | (r & 0x3F)));
	}
}

pont_str pont_buf_str(const pont_buf *b)
{
	if (b->n == 0)
		return EMPTY;
	return (pont_str){b->p, b->n};
}

int pont_str_eq(pont_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* ---- The host. ---- */

/* take copies out the bytes behind a handle (ABI.md 4.4). */
static int take(int64_t result, pont_str *out)
{
	uint32_t handle, n;
	char *p;

	if (result < 0)
		return -1;
	handle = (uint32_t)((uint64_t)result >> 32);
	n = (uint32_t)result;
	p = pont_arena_alloc(n);
	if (pont_host_read(handle, p) < 0)
		return -1;
	*out = (pont_str){p, n};
	return 0;
}

int pont_config(const char *key, pont_str *value)
{
	size_t n = strlen(key);

	if (n == 0)
		return 0;
	return take(pont_host_config_get(key, (uint32_t)n), value) == 0;
}

static void result_error(pont_response *resp, const char *why, const char *detail)
{
	pont_buf m = {0};

	pont_buf_puts(&m, why);
	if (detail)
		pont_buf_puts(&m, detail);
	resp->failed = 1;
	resp->code = pont_lit("bad_request");
	resp->message = pont_buf_str(&m);
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* base64_decode decodes standard base64 with padding (RFC 4648, section
 * 4), line breaks ignored. It returns 0, or -1 with the offending byte's
 * position appended to why. */
static int base64_decode(pont_str in, pont_str *out, pont_buf *why)
{
	const unsigned char *s = (const unsigned char *)in.p;
	unsigned char *o = pont_arena_alloc(in.n / 4 * 3 + 3);
	size_t i, n = 0, pad = 0;
	uint32_t acc = 0;
	int q = 0, v;

	for (i = 0; i < in.n; i++) {
		unsigned char c = s[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			/* Padding ends the last quantum: "xx==" or "xxx=". */
			if (q + pad < 2 || q + pad >= 4)
				goto bad;
			pad++;
			if (q + pad == 4) {
				acc <<= 6 * pad;
				o[n++] = (unsigned char)(acc >> 16);
				if (q == 3)
					o[n++] = (unsigned char)(acc >> 8);
				q = 0;
			}
			continue;
		}
		if (pad)
			goto bad;
		v = b64_value(c);
		if (v < 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		if (++q == 4) {
			o[n++] = (unsigned char)(acc >> 16);
			o[n++] = (unsigned char)(acc >> 8);
			o[n++] = (unsigned char)acc;
			acc = 0;
			q = 0;
		}
	}
	if (q != 0)
		goto bad;
	*out = (pont_str){(const char *)o, n};
	return 0;
bad:
	pont_buf_puts(why, "illegal base64 data at input byte ");
	pont_buf_putu(why, i);
	return -1;
}

/* read_result reads http_call's result JSON (ABI.md 4.2). */
static void read_result(pont_str text, pont_response *resp)
{
	json_reader r;
	json_iter it, inner;
	pont_str key, status = EMPTY, encoded;
	pont_buf why = {0};
	int base64_failed = 0, failed = 0;
	uint64_t n = 0;
	size_t k;

	json_init(&r, text);
	if (json_object(&r, &it))
		while (json_next(&r, &it, &key)) {
			if (pont_str_eq(key, "status")) {
				status = json_raw(&r);
			} else if (pont_str_eq(key, "body")) {
				resp->body = json_string(&r);
			} else if (pont_str_eq(key, "body_base64")) {
				encoded = json_string(&r);
				if (!r.failed && !base64_failed && base64_decode(encoded, &resp->body, &why) != 0)
					base64_failed = 1;
			} else if (pont_str_eq(key, "charset")) {
				resp->charset = json_string(&r);
			} else if (pont_str_eq(key, "error")) {
				failed = 1;
				if (json_object(&r, &inner))
					while (json_next(&r, &inner, &key)) {
						if (pont_str_eq(key, "code"))
							resp->code = json_string(&r);
						else if (pont_str_eq(key, "message"))
							resp->message = json_string(&r);
						else
							json_skip(&r);
					}
			} else {
				json_skip(&r);
			}
		}
	if (json_end(&r) != 0) {
		result_error(resp, "the host's http_call result is not valid JSON: ", r.err);
		return;
	}
	if (base64_failed) {
		pont_buf_putc(&why, 0);
		result_error(resp, "the host's http_call result is not valid JSON: body_base64: ", why.p);
		return;
	}
	if (failed) {
		resp->failed = 1;
		return;
	}
	for (k = 0; k < status.n && status.n <= 3; k++) {
		if (status.p[k] < '0' || status.p[k] > '9')
			break;
		n = n * 10 + (uint64_t)(status.p[k] - '0');
	}
	if (status.n == 0 || status.n > 3 || k != status.n) {
		result_error(resp, "the host's http_call result has no status", NULL);
		return;
	}
	resp->status = (int)n;
}

void pont_http_get(pont_str url, pont_response *resp)
{
	pont_buf req = {0};
	pont_str result = EMPTY;

	memset(resp, 0, sizeof *resp);
	resp->code = resp->message = resp->body = resp->charset = EMPTY;
	pont_buf_puts(&req, "{\"method\":\"GET\",\"url\":");
	json_put_string(&req, url);
	pont_buf_putc(&req, '}');
	if (take(pont_host_http_call(req.p, (uint32_t)req.n), &result) != 0) {
		result_error(resp, "the host's http_call result could not be read", NULL);
		return;
	}
	read_result(result, resp);
}

/* ---- Charsets. ---- */

enum charset { CS_UNKNOWN, CS_UTF8, CS_ASCII, CS_LATIN1, CS_WINDOWS1252, CS_LATIN9 };

/* charset_of maps the names sources use (IANA's and the usual aliases,
 * lowercased) to the decoders; no name is UTF-8, as JSON (RFC 8259) and
 * the ABI take a body without one to be. */
static enum charset charset_of(pont_str name)
{
	static const struct {
		const char *name;
		enum charset cs;
	} names[] = {
	    {"", CS_UTF8}, {"utf-8", CS_UTF8}, {"utf8", CS_UTF8},
	    {"us-ascii", CS_ASCII}, {"ascii", CS_ASCII},
	    {"iso-8859-1", CS_LATIN1}, {"iso8859-1", CS_LATIN1}, {"iso_8859-1", CS_LATIN1},
	    {"iso_8859-1:1987", CS_LATIN1}, {"latin1", CS_LATIN1}, {"latin-1", CS_LATIN1},
	    {"l1", CS_LATIN1}, {"cp819", CS_LATIN1}, {"ibm819", CS_LATIN1}, {"iso-ir-100", CS_LATIN1},
	    {"windows-1252", CS_WINDOWS1252}, {"cp1252", CS_WINDOWS1252}, {"x-cp1252", CS_WINDOWS1252},
	    {"iso-8859-15", CS_LATIN9}, {"iso8859-15", CS_LATIN9}, {"iso_8859-15", CS_LATIN9},
	    {"latin9", CS_LATIN9}, {"latin-9", CS_LATIN9}, {"l9", CS_LATIN9},
	};
	size_t k;

	for (k = 0; k < sizeof names / sizeof names[0]; k++)
		if (pont_str_eq(name, names[k].name))
			return names[k].cs;
	return CS_UNKNOWN;
}

/* windows-1252's bytes 0x80 to 0x9F. Its five unassigned bytes keep the
 * control character, as the WHATWG Encoding Standard decodes them: a byte is
 * never replaced. */
static const uint16_t cp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* upper maps a byte from 0x80 up of a single-byte charset to Unicode. */
static uint32_t upper(enum charset cs, unsigned char c)
{
	if (cs == CS_WINDOWS1252 && c < 0xA0)
		return cp1252[c - 0x80];
	if (cs == CS_LATIN9)
		switch (c) {
		case 0xA4: return 0x20AC;
		case 0xA6: return 0x0160;
		case 0xA8: return 0x0161;
		case 0xB4: return 0x017D;
		case 0xB8: return 0x017E;
		case 0xBC: return 0x0152;
		case 0xBD: return 0x0153;
		case 0xBE: return 0x0178;
		}
	return c; /* ISO-8859-1's upper half is Unicode's U+0080 to U+00FF. */
}

size_t pont_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t size, k;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		size = 2;
	} else if (c < 0xF0) {
		size = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		size = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (n < size || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < size; k++)
		if (s[k] < 0x80 || s[k] > 0xBF)
			return 0;
	return size;
}

static int utf8_valid(pont_str s)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0, size;

	while (i < s.n) {
		size = pont_utf8_seq(p + i, s.n - i);
		if (size == 0)
			return 0;
		i += size;
	}
	return 1;
}

/* quote_charset quotes a charset name for a message: it comes from the
 * source's header, so a byte no charset name holds becomes '?' and a long
 * one is cut, and the message stays one short line. */
static void quote_charset(pont_buf *b, pont_str cs)
{
	size_t k;

	pont_buf_putc(b, '"');
	for (k = 0; k < cs.n && k < 40; k++) {
		unsigned char c = (unsigned char)cs.p[k];
		pont_buf_putc(b, c < 0x21 || c > 0x7E || c == '"' || c == '\\' ? '?' : (char)c);
	}
	if (cs.n > 40)
		pont_buf_puts(b, "...");
	pont_buf_putc(b, '"');
}

int pont_text(const pont_response *resp, pont_str *text, pont_buf *why)
{
	pont_str body = resp->body, cs = resp->charset;
	enum charset kind;
	size_t k, high = 0;
	char *lower;
	pont_buf out = {0};

	while (cs.n && (cs.p[0] == ' ' || cs.p[0] == '\t'))
		cs.p++, cs.n--;
	while (cs.n && (cs.p[cs.n - 1] == ' ' || cs.p[cs.n - 1] == '\t'))
		cs.n--;
	lower = pont_arena_alloc(cs.n);
	for (k = 0; k < cs.n; k++)
		lower[k] = cs.p[k] >= 'A' && cs.p[k] <= 'Z' ? (char)(cs.p[k] + 32) : cs.p[k];
	cs.p = lower;
	kind = charset_of(cs);
	switch (kind) {
	case CS_UTF8:
		if (!utf8_valid(body)) {
			if (cs.n == 0) {
				pont_buf_puts(why, "the body is not valid UTF-8, and the source declared no charset");
			} else {
				pont_buf_puts(why, "the body is not valid in its declared charset ");
				quote_charset(why, cs);
			}
			return -1;
		}
		*text = body;
		return 0;
	case CS_ASCII:
		for (k = 0; k < body.n; k++)
			if ((unsigned char)body.p[k] >= 0x80) {
				pont_buf_puts(why, "the body is not valid in its declared charset ");
				quote_charset(why, cs);
				return -1;
			}
		*text = body;
		return 0;
	case CS_UNKNOWN:
		pont_buf_puts(why, "the source's charset ");
		quote_charset(why, cs);
		pont_buf_puts(why, " is not one the adapter decodes (utf-8, us-ascii, iso-8859-1, windows-1252, iso-8859-15)");
		return -1;
	default:
		break;
	}
	for (k = 0; k < body.n; k++)
		high += (unsigned char)body.p[k] >= 0x80;
	if (high == 0) {
		*text = body;
		return 0;
	}
	pont_buf_reserve(&out, body.n + 2 * high);
	for (k = 0; k < body.n; k++) {
		unsigned char c = (unsigned char)body.p[k];
		if (c < 0x80)
			pont_buf_putc(&out, (char)c);
		else
			pont_buf_put_rune(&out, upper(kind, c));
	}
	*text = pont_buf_str(&out);
	return 0;
}

/* ---- The exports. ---- */

pont_buf *pont_error(pont_answer *a, const char *code)
{
	a->code = code;
	a->message.n = 0;
	return &a->message;
}

/* pont_alloc is the first export of every call: what the last call
 * allocated, its answer included, is the guest's again (ABI.md 2). */
__attribute__((export_name("pont_alloc")))
void *pont_alloc(uint32_t size)
{
	arena_reset();
	return pont_arena_alloc(size);
}

__attribute__((export_name("pont_handle")))
uint64_t pont_handle(const char *ptr, uint32_t len)
{
	pont_answer a;
	pont_buf out = {0};

	memset(&a, 0, sizeof a);
	pont_adapter((pont_str){ptr, len}, &a);
	if (a.code) {
		pont_buf_puts(&out, "{\"error\":{\"code\":");
		json_put_string(&out, (pont_str){a.code, strlen(a.code)});
		pont_buf_puts(&out, ",\"message\":");
		json_put_string(&out, pont_buf_str(&a.message));
		pont_buf_puts(&out, "}}");
	} else {
		pont_buf_puts(&out, "{\"data\":");
		if (a.data.n)
			pont_buf_put(&out, a.data.p, a.data.n);
		else
			pont_buf_puts(&out, "{}");
		pont_buf_putc(&out, '}');
	}
	return (uint64_t)(uintptr_t)out.p << 32 | (uint32_t)out.n;
}
