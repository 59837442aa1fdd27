/*
 * json.c: the JSON reader and writer of json.h. The reader follows
 * sdk-wasm/jsonread step by step, so that its first error is the one the Go
 * reader meets, at the same byte and with the same words.
 */
#include "json.h"

#include <string.h>

#define EMPTY ((pont_str){"", 0})

void json_init(json_reader *r, pont_str text)
{
	memset(r, 0, sizeof *r);
	r->b = (const unsigned char *)text.p;
	r->n = text.n;
}

/* append copies s into the fixed error buffer, cut if it does not fit. */
static size_t append(char *dst, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		dst[at++] = *s++;
	dst[at] = 0;
	return at;
}

/* fail_at keeps the first error: "at byte <at>: <what><arg>". */
static void fail_at(json_reader *r, size_t at, const char *what, const char *arg)
{
	char digits[24];
	size_t k = sizeof digits - 1;
	size_t n;

	if (r->failed)
		return;
	r->failed = 1;
	digits[k] = 0;
	do {
		digits[--k] = (char)('0' + at % 10);
		at /= 10;
	} while (at);
	n = append(r->err, 0, sizeof r->err, "at byte ");
	n = append(r->err, n, sizeof r->err, digits + k);
	n = append(r->err, n, sizeof r->err, ": ");
	n = append(r->err, n, sizeof r->err, what);
	if (arg)
		append(r->err, n, sizeof r->err, arg);
}

static void fail(json_reader *r, const char *what)
{
	fail_at(r, r->i, what, NULL);
}

/* peek skips white space and returns the next byte, or 0 at the end or
 * after an error. */
static int peek(json_reader *r)
{
	while (r->i < r->n) {
		unsigned char c = r->b[r->i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		r->i++;
	}
	if (r->failed || r->i >= r->n)
		return 0;
	return r->b[r->i];
}

static void literal(json_reader *r, const char *lit)
{
	size_t n = strlen(lit);
	if (r->n - r->i < n || memcmp(r->b + r->i, lit, n) != 0) {
		fail_at(r, r->i, "want ", lit);
		return;
	}
	r->i += n;
}

int json_null(json_reader *r)
{
	if (peek(r) != 'n')
		return 0;
	literal(r, "null");
	return !r->failed;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* number reads a number by JSON's grammar; at a break, the error names the
 * byte where it broke. */
static void number(json_reader *r)
{
	const unsigned char *b = r->b;
	size_t n = r->n, i = r->i, start;
	int ok = 1;

	if (i < n && b[i] == '-')
		i++;
	if (i < n && b[i] == '0') {
		i++;
	} else {
		for (start = i; i < n && is_digit(b[i]); i++)
			;
		ok = i > start;
	}
	if (ok && i < n && b[i] == '.') {
		for (start = ++i; i < n && is_digit(b[i]); i++)
			;
		ok = i > start;
	}
	if (ok && i < n && (b[i] == 'e' || b[i] == 'E')) {
		i++;
		if (i < n && (b[i] == '+' || b[i] == '-'))
			i++;
		for (start = i; i < n && is_digit(b[i]); i++)
			;
		ok = i > start;
	}
	r->i = i;
	if (!ok)
		fail(r, "bad number");
}

/* hex4 decodes the four hex digits at b[at], or returns -1. */
static int32_t hex4(const unsigned char *b, size_t n, size_t at)
{
	int32_t v = 0;
	size_t k;

	if (at + 4 > n)
		return -1;
	for (k = at; k < at + 4; k++) {
		unsigned char c = b[k];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			c = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | c;
	}
	return v;
}

/* plain reports whether a string carries c as it is. */
static int plain(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\' && c < 0x80;
}

/* read_string reads the string whose opening quote is at b[i]: its value
 * is a view of the input when it holds no escape and nothing beyond ASCII,
 * else a copy in the arena with the escapes resolved. It returns 0 and the
 * index past the closing quote, or -1 after failing r. */
static int read_string(json_reader *r, size_t i, pont_str *out, size_t *next)
{
	const unsigned char *b = r->b;
	size_t n = r->n, start, run;
	pont_buf buf = {0};

	if (i >= n || b[i] != '"') {
		fail_at(r, i, "want a string", NULL);
		return -1;
	}
	start = ++i;
	while (i < n && plain(b[i]))
		i++;
	if (i < n && b[i] == '"') {
		out->p = (const char *)b + start;
		out->n = i - start;
		*next = i + 1;
		return 0;
	}
	pont_buf_reserve(&buf, i - start + 64);
	pont_buf_put(&buf, b + start, i - start);
	while (i < n) {
		unsigned char c, e;
		int32_t ru, ru2;
		size_t size;

		for (run = i; i < n && plain(b[i]); i++)
			;
		pont_buf_put(&buf, b + run, i - run);
		if (i >= n)
			break;
		c = b[i];
		if (c == '"') {
			*out = pont_buf_str(&buf);
			*next = i + 1;
			return 0;
		}
		if (c < 0x20) {
			fail_at(r, i, "control character in a string", NULL);
			return -1;
		}
		if (c >= 0x80) {
			size = pont_utf8_seq(b + i, n - i);
			if (size == 0) {
				pont_buf_put_rune(&buf, 0xFFFD);
				i++;
			} else {
				pont_buf_put(&buf, b + i, size);
				i += size;
			}
			continue;
		}
		/* A backslash. */
		if (i + 1 >= n)
			break;
		e = b[i + 1];
		i += 2;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			pont_buf_putc(&buf, (char)e);
			break;
		case 'b':
			pont_buf_putc(&buf, '\b');
			break;
		case 'f':
			pont_buf_putc(&buf, '\f');
			break;
		case 'n':
			pont_buf_putc(&buf, '\n');
			break;
		case 'r':
			pont_buf_putc(&buf, '\r');
			break;
		case 't':
			pont_buf_putc(&buf, '\t');
			break;
		case 'u':
			ru = hex4(b, n, i);
			if (ru < 0) {
				fail_at(r, i, "bad \\u escape", NULL);
				return -1;
			}
			i += 4;
			if (ru >= 0xD800 && ru < 0xE000) {
				/* A valid pair is one character; a lone surrogate
				 * is U+FFFD, and what follows it is read on its own. */
				ru2 = -1;
				if (i + 1 < n && b[i] == '\\' && b[i + 1] == 'u')
					ru2 = hex4(b, n, i + 2);
				if (ru < 0xDC00 && ru2 >= 0xDC00 && ru2 < 0xE000) {
					ru = 0x10000 + ((ru - 0xD800) << 10) + (ru2 - 0xDC00);
					i += 6;
				} else {
					ru = 0xFFFD;
				}
			}
			pont_buf_put_rune(&buf, (uint32_t)ru);
			break;
		default: {
			/* Named as Go's %c names the byte: as a character. */
			pont_buf name = {0};
			pont_buf_put_rune(&name, e);
			pont_buf_putc(&name, 0);
			fail_at(r, i, "bad escape \\", name.p);
			return -1;
		}
		}
	}
	fail_at(r, i, "unterminated string", NULL);
	return -1;
}

static pont_str str(json_reader *r)
{
	pont_str v = EMPTY;
	size_t next;

	if (peek(r) != '"') {
		fail(r, "want a string");
		return v;
	}
	if (read_string(r, r->i, &v, &next) != 0)
		return EMPTY;
	r->i = next;
	return v;
}

pont_str json_string(json_reader *r)
{
	if (json_null(r))
		return EMPTY;
	return str(r);
}

enum { IT_FIRST, IT_AFTER_VALUE, IT_DONE };

int json_object(json_reader *r, json_iter *it)
{
	it->state = IT_DONE;
	if (json_null(r))
		return 0;
	if (peek(r) != '{') {
		fail(r, "want an object");
		return 0;
	}
	r->i++;
	if (peek(r) == '}') {
		r->i++;
		return 1;
	}
	it->state = IT_FIRST;
	return 1;
}

/* key_colon reads an object's key and the colon after it. */
static int key_colon(json_reader *r, pont_str *key)
{
	*key = str(r);
	if (peek(r) != ':') {
		fail(r, "want ':' after a key");
		return 0;
	}
	r->i++;
	return 1;
}

int json_next(json_reader *r, json_iter *it, pont_str *key)
{
	if (it->state == IT_DONE)
		return 0;
	if (it->state == IT_AFTER_VALUE) {
		switch (peek(r)) {
		case ',':
			r->i++;
			break;
		case '}':
			r->i++;
			it->state = IT_DONE;
			return 0;
		default:
			fail(r, "want ',' or '}' in an object");
			it->state = IT_DONE;
			return 0;
		}
	}
	it->state = IT_AFTER_VALUE;
	if (!key_colon(r, key)) {
		it->state = IT_DONE;
		return 0;
	}
	return 1;
}

void json_skip(json_reader *r)
{
	/* The open containers, '{' or '[', innermost last. */
	pont_buf open = {0};
	pont_str key;

	for (;;) {
		int c = peek(r);
		switch (c) {
		case '"':
			str(r);
			break;
		case '{':
			r->i++;
			if (peek(r) == '}') {
				r->i++;
				break;
			}
			pont_buf_putc(&open, '{');
			if (!key_colon(r, &key))
				return;
			continue;
		case '[':
			r->i++;
			if (peek(r) == ']') {
				r->i++;
				break;
			}
			pont_buf_putc(&open, '[');
			continue;
		case 't':
			literal(r, "true");
			break;
		case 'f':
			literal(r, "false");
			break;
		case 'n':
			literal(r, "null");
			break;
		default:
			if (c == '-' || is_digit((unsigned char)c)) {
				number(r);
				break;
			}
			fail(r, "want a JSON value");
			return;
		}
		/* A value was read: close what it ends, or go on to the next
		 * member of the container it is in. */
		for (;;) {
			char top;
			int d;

			if (r->failed || open.n == 0)
				return;
			top = open.p[open.n - 1];
			d = peek(r);
			if (d == ',') {
				r->i++;
				if (top == '{' && !key_colon(r, &key))
					return;
				break;
			}
			if (d == (top == '{' ? '}' : ']')) {
				r->i++;
				open.n--;
				continue;
			}
			fail(r, top == '{' ? "want ',' or '}' in an object" : "want ',' or ']' in an array");
			return;
		}
	}
}

pont_str json_raw(json_reader *r)
{
	size_t start;

	peek(r);
	start = r->i;
	json_skip(r);
	if (r->failed)
		return EMPTY;
	return (pont_str){(const char *)r->b + start, r->i - start};
}

int json_end(json_reader *r)
{
	peek(r);
	if (!r->failed && r->i < r->n)
		fail(r, "data after the JSON value");
	return r->failed ? -1 : 0;
}

void json_put_string(pont_buf *b, pont_str s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s.p;
	size_t n = s.n, i = 0, start = 0, size;

	pont_buf_reserve(b, n + 2);
	pont_buf_putc(b, '"');
	while (i < n) {
		unsigned char c = p[i];
		if (c < 0x80) {
			if (c >= 0x20 && c != '"' && c != '\\') {
				i++;
				continue;
			}
			pont_buf_put(b, p + start, i - start);
			switch (c) {
			case '"':
			case '\\':
				pont_buf_putc(b, '\\');
				pont_buf_putc(b, (char)c);
				break;
			case '\n':
				pont_buf_puts(b, "\\n");
				break;
			case '\r':
				pont_buf_puts(b, "\\r");
				break;
			case '\t':
				pont_buf_puts(b, "\\t");
				break;
			default:
				pont_buf_puts(b, "\\u00");
				pont_buf_putc(b, hex[c >> 4]);
				pont_buf_putc(b, hex[c & 0xF]);
			}
			start = ++i;
			continue;
		}
		size = pont_utf8_seq(p + i, n - i);
		if (size == 0) {
			pont_buf_put(b, p + start, i - start);
			pont_buf_puts(b, "\\ufffd");
			start = ++i;
			continue;
		}
		/* U+2028 and U+2029 are valid JSON but end a line in JavaScript. */
		if (size == 3 && c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
			pont_buf_put(b, p + start, i - start);
			pont_buf_puts(b, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
			i += 3;
			start = i;
			continue;
		}
		i += size;
	}
	pont_buf_put(b, p + start, n - start);
	pont_buf_putc(b, '"');
}

json_obj json_begin(pont_buf *b)
{
	pont_buf_putc(b, '{');
	return (json_obj){b, 0};
}

static void put_key(json_obj *o, const char *key)
{
	if (o->fields++)
		pont_buf_putc(o->b, ',');
	json_put_string(o->b, (pont_str){key, strlen(key)});
	pont_buf_putc(o->b, ':');
}

json_obj json_begin_in(json_obj *parent, const char *key)
{
	put_key(parent, key);
	return json_begin(parent->b);
}

void json_put(json_obj *o, const char *key, pont_str v)
{
	put_key(o, key);
	json_put_string(o->b, v);
}

void json_end_obj(json_obj *o)
{
	pont_buf_putc(o->b, '}');
}
