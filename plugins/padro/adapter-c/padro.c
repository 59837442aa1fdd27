/*
 * padro.c: the padró adapter of a municipality, in C, written from
 * sdk-wasm/ABI.md alone. It asks the municipality's padró system where the
 * subject is registered and answers the catalog's padro shape (INE
 * SVDSECOPA01WS01), exactly as its Go twin (plugins/padro/adapter) answers.
 * One module serves every municipality; each deployment's manifest
 * (manifest-08019.json, manifest-17079.json) names its scope, and the
 * operator its source_url.
 *
 * Build on Debian 12 (apt-get install clang lld wasi-libc
 * libclang-rt-14-dev-wasm32) in this directory, then embed a manifest:
 *
 *	clang --target=wasm32-wasi --sysroot=/usr -std=c11 -O2 -Wall -Wextra \
 *	    -mexec-model=reactor -Wl,--stack-first -Wl,--strip-debug \
 *	    -o padro-c.wasm *.c
 *	pont adapter manifest add --manifest manifest-08019.json \
 *	    --out padro-c-08019.wasm padro-c.wasm
 *
 * pont adapter build does the same for every deployment. sdk-wasm/GUIDE.md
 * explains each flag, and the way on to a served adapter.
 */
#include <string.h>

#include "json.h"
#include "pont.h"

#define EMPTY ((pont_str){"", 0})

/* The adapter's error messages name the source, never the subject. */
#define SOURCE "the padró system"
#define NOT_FOUND "the subject is not registered in this municipality's padró"

/* The part of the source's record the adapter reads. */
typedef struct {
	pont_str codi, nom;
} codi;

typedef struct {
	codi provincia, municipi, entitat_singular, nucli;
	/* entitat_collectiva and darrera_variacio may be absent or null. */
	int has_collectiva;
	codi entitat_collectiva;
	struct {
		pont_str codi_via, tipus_via, nom_via, numero, bloc, portal,
		    escala, pis, porta, codi_postal;
	} domicili;
	pont_str data_alta;
	int has_variacio;
	struct {
		pont_str codi, descripcio, data;
	} variacio;
} habitant;

/* The query's part the adapter needs. */
typedef struct {
	pont_str id, municipality;
} query;

/* param reads a param as the Go SDK's Request.Param does: a string's value,
 * null as nothing, any other value as its JSON text. */
static pont_str param(json_reader *r)
{
	pont_str raw = json_raw(r), v;
	json_reader s;

	if (raw.n == 0 || pont_str_eq(raw, "null"))
		return EMPTY;
	if (raw.p[0] == '"') {
		json_init(&s, raw);
		v = json_string(&s);
		if (!s.failed)
			return v;
	}
	return raw;
}

/* read_query reads the input (ABI.md 3.1): the subject's id and the
 * municipality param; every other member is skipped, as the ABI asks. */
static int read_query(pont_str input, query *q, pont_answer *a)
{
	json_reader r;
	json_iter it, inner;
	pont_str key, version = EMPTY;
	pont_buf *m;

	q->id = q->municipality = EMPTY;
	json_init(&r, input);
	if (json_object(&r, &it))
		while (json_next(&r, &it, &key)) {
			if (pont_str_eq(key, "abi")) {
				version = json_raw(&r);
			} else if (pont_str_eq(key, "subject")) {
				if (json_object(&r, &inner)) {
					while (json_next(&r, &inner, &key))
						if (pont_str_eq(key, "id"))
							q->id = json_string(&r);
						else
							json_skip(&r);
				}
			} else if (pont_str_eq(key, "params")) {
				if (json_object(&r, &inner)) {
					while (json_next(&r, &inner, &key))
						if (pont_str_eq(key, "municipality"))
							q->municipality = param(&r);
						else
							json_skip(&r);
				}
			} else {
				json_skip(&r);
			}
		}
	if (json_end(&r) != 0) {
		m = pont_error(a, PONT_INVALID_PARAMS);
		pont_buf_puts(m, "the input is not the ABI's query JSON: ");
		pont_buf_puts(m, r.err);
		return -1;
	}
	if (!pont_str_eq(version, "1")) {
		pont_buf_puts(pont_error(a, PONT_INVALID_PARAMS), "the input's abi is not 1, the version this adapter speaks");
		return -1;
	}
	return 0;
}

/* absolute_http reports whether s starts as an absolute http or https URL
 * with a host; the host checks the whole URL of every request anyway. */
static int absolute_http(pont_str s)
{
	static const char *const schemes[] = {"http://", "https://"};
	size_t k, i, n;

	for (k = 0; k < 2; k++) {
		n = strlen(schemes[k]);
		if (s.n < n)
			continue;
		for (i = 0; i < n; i++) {
			char c = s.p[i];
			if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != schemes[k][i])
				break;
		}
		if (i < n)
			continue;
		for (; i < s.n && s.p[i] != '/'; i++)
			if (s.p[i] == ' ' || s.p[i] == '?' || s.p[i] == '#')
				return 0;
		return i > n;
	}
	return 0;
}

/* base_url is the configured source_url without its trailing slashes. A
 * missing or unusable one is the operator's to fix: misconfigured, naming
 * the key and never its value, which may carry credentials. */
static int base_url(pont_str *base, pont_answer *a)
{
	if (!pont_config("source_url", base)) {
		pont_buf_puts(pont_error(a, PONT_MISCONFIGURED), "the adapter has no source_url configured");
		return -1;
	}
	if (!absolute_http(*base)) {
		pont_buf_puts(pont_error(a, PONT_MISCONFIGURED), "source_url is not an absolute http(s) URL");
		return -1;
	}
	while (base->n > 0 && base->p[base->n - 1] == '/')
		base->n--;
	return 0;
}

/* escape appends s to u with every byte outside keep percent-encoded, as
 * Go's url.PathEscape (a path segment) and url.QueryEscape (a query value,
 * with space as '+') do. */
static void escape(pont_buf *u, pont_str s, const char *keep, int space_plus)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k;

	for (k = 0; k < s.n; k++) {
		unsigned char c = (unsigned char)s.p[k];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    (c != 0 && strchr(keep, c))) {
			pont_buf_putc(u, (char)c);
		} else if (c == ' ' && space_plus) {
			pont_buf_putc(u, '+');
		} else {
			pont_buf_putc(u, '%');
			pont_buf_putc(u, hex[c >> 4]);
			pont_buf_putc(u, hex[c & 0xF]);
		}
	}
}

/* read_codi reads a {"codi", "nom"} object, null as an empty one, and
 * reports whether there was an object. */
static int read_codi(json_reader *r, codi *c)
{
	json_iter it;
	pont_str key;

	c->codi = c->nom = EMPTY;
	if (!json_object(r, &it))
		return 0;
	while (json_next(r, &it, &key))
		if (pont_str_eq(key, "codi"))
			c->codi = json_string(r);
		else if (pont_str_eq(key, "nom"))
			c->nom = json_string(r);
		else
			json_skip(r);
	return 1;
}

/* read_habitant reads the source's record: the keys the adapter needs,
 * every other one skipped (the record also carries the resident's
 * document, which the answer does not repeat). As the Go twin's reader, a
 * repeated municipi or domicili adds to the first, any other repeated key
 * replaces it. */
static int read_habitant(pont_str body, habitant *h, json_reader *r)
{
	json_iter it, inner;
	pont_str key;
	codi c;

	memset(h, 0, sizeof *h);
	json_init(r, body);
	if (json_object(r, &it))
		while (json_next(r, &it, &key)) {
			if (pont_str_eq(key, "provincia")) {
				read_codi(r, &h->provincia);
			} else if (pont_str_eq(key, "municipi")) {
				if (json_object(r, &inner)) {
					while (json_next(r, &inner, &key))
						if (pont_str_eq(key, "codi_ine"))
							h->municipi.codi = json_string(r);
						else if (pont_str_eq(key, "nom"))
							h->municipi.nom = json_string(r);
						else
							json_skip(r);
				}
			} else if (pont_str_eq(key, "entitat_collectiva")) {
				h->has_collectiva = read_codi(r, &c);
				h->entitat_collectiva = c;
			} else if (pont_str_eq(key, "entitat_singular")) {
				read_codi(r, &h->entitat_singular);
			} else if (pont_str_eq(key, "nucli")) {
				read_codi(r, &h->nucli);
			} else if (pont_str_eq(key, "domicili")) {
				static const char *const names[] = {
				    "codi_via", "tipus_via", "nom_via", "numero", "bloc",
				    "portal", "escala", "pis", "porta", "codi_postal"};
				pont_str *fields[] = {
				    &h->domicili.codi_via, &h->domicili.tipus_via, &h->domicili.nom_via,
				    &h->domicili.numero, &h->domicili.bloc, &h->domicili.portal,
				    &h->domicili.escala, &h->domicili.pis, &h->domicili.porta,
				    &h->domicili.codi_postal};
				size_t k;

				if (json_object(r, &inner))
					while (json_next(r, &inner, &key)) {
						for (k = 0; k < 10 && !pont_str_eq(key, names[k]); k++)
							;
						if (k < 10)
							*fields[k] = json_string(r);
						else
							json_skip(r);
					}
			} else if (pont_str_eq(key, "data_alta")) {
				h->data_alta = json_string(r);
			} else if (pont_str_eq(key, "darrera_variacio")) {
				h->has_variacio = 0;
				h->variacio.codi = h->variacio.descripcio = h->variacio.data = EMPTY;
				if (json_object(r, &inner)) {
					h->has_variacio = 1;
					while (json_next(r, &inner, &key))
						if (pont_str_eq(key, "codi"))
							h->variacio.codi = json_string(r);
						else if (pont_str_eq(key, "descripcio"))
							h->variacio.descripcio = json_string(r);
						else if (pont_str_eq(key, "data"))
							h->variacio.data = json_string(r);
						else
							json_skip(r);
				}
			} else {
				json_skip(r);
			}
		}
	return json_end(r);
}

static int digits(const char *p, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (p[k] < '0' || p[k] > '9')
			return 0;
	return 1;
}

static int num(const char *p, size_t n)
{
	int v = 0;

	while (n--)
		v = v * 10 + (*p++ - '0');
	return v;
}

/* iso_date turns the source's dd/mm/yyyy into yyyy-mm-dd when it is a real
 * date of the Gregorian calendar; anything else is passed through for the
 * broker's schema check to reject. */
static pont_str iso_date(pont_str s)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int day, month, year, last;
	char *out;

	if (s.n != 10 || s.p[2] != '/' || s.p[5] != '/' || !digits(s.p, 2) ||
	    !digits(s.p + 3, 2) || !digits(s.p + 6, 4))
		return s;
	day = num(s.p, 2);
	month = num(s.p + 3, 2);
	year = num(s.p + 6, 4);
	if (month < 1 || month > 12)
		return s;
	last = days[month - 1];
	if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
		last = 29;
	if (day < 1 || day > last)
		return s;
	out = pont_arena_alloc(10);
	memcpy(out, s.p + 6, 4);
	out[4] = '-';
	memcpy(out + 5, s.p + 3, 2);
	out[7] = '-';
	memcpy(out + 8, s.p, 2);
	return (pont_str){out, 10};
}

/* coded writes the catalog's {"code", "name"} pair under key. */
static void coded(json_obj *o, const char *key, codi c)
{
	json_obj pair = json_begin_in(o, key);
	json_put(&pair, "code", c.codi);
	json_put(&pair, "name", c.nom);
	json_end_obj(&pair);
}

/* optional writes a string field only when it is not empty. */
static void optional(json_obj *o, const char *key, pont_str v)
{
	if (v.n)
		json_put(o, key, v);
}

/* write_answer translates the record into the catalog's shape, its fields
 * in the catalog's order. It passes codes through as the source gives
 * them: checking them is the broker's job (the answer schema), and the
 * adapter must not invent data. Optional fields are left out when the
 * source has nothing for them. */
static void write_answer(const habitant *h, pont_buf *data)
{
	json_obj a = json_begin(data), e, addr, lv;

	coded(&a, "province", h->provincia);
	coded(&a, "municipality", h->municipi);
	if (h->entitat_singular.codi.n) {
		e = json_begin_in(&a, "entity");
		if (h->has_collectiva && h->entitat_collectiva.codi.n)
			coded(&e, "collective", h->entitat_collectiva);
		coded(&e, "singular", h->entitat_singular);
		coded(&e, "nucleus", h->nucli);
		json_end_obj(&e);
	}
	addr = json_begin_in(&a, "address");
	optional(&addr, "street_code", h->domicili.codi_via);
	json_put(&addr, "street_type", h->domicili.tipus_via);
	json_put(&addr, "street_name", h->domicili.nom_via);
	optional(&addr, "number", h->domicili.numero);
	optional(&addr, "block", h->domicili.bloc);
	optional(&addr, "portal", h->domicili.portal);
	optional(&addr, "stair", h->domicili.escala);
	optional(&addr, "floor", h->domicili.pis);
	optional(&addr, "door", h->domicili.porta);
	json_put(&addr, "postcode", h->domicili.codi_postal);
	json_end_obj(&addr);
	json_put(&a, "registration_date", iso_date(h->data_alta));
	if (h->has_variacio) {
		lv = json_begin_in(&a, "last_variation");
		json_put(&lv, "code", h->variacio.codi);
		optional(&lv, "description", h->variacio.descripcio);
		json_put(&lv, "date", iso_date(h->variacio.data));
		json_end_obj(&lv);
	}
	json_end_obj(&a);
}

void pont_adapter(pont_str input, pont_answer *a)
{
	query q;
	pont_str base, text;
	pont_buf url = {0}, why = {0}, *m;
	pont_response resp;
	habitant h;
	json_reader r;

	if (read_query(input, &q, a) != 0 || base_url(&base, a) != 0)
		return;
	pont_buf_put(&url, base.p, base.n);
	pont_buf_puts(&url, "/padro/v1/habitants/");
	escape(&url, q.id, "-._~$&+:=@", 0);
	if (q.municipality.n) {
		pont_buf_puts(&url, "?municipi=");
		escape(&url, q.municipality, "-._~", 1);
	}
	pont_http_get(pont_buf_str(&url), &resp);
	if (resp.failed) {
		m = pont_error(a, PONT_SOURCE_UNAVAILABLE);
		pont_buf_puts(m, SOURCE " could not be reached: http ");
		pont_buf_put(m, resp.code.p, resp.code.n);
		pont_buf_puts(m, ": ");
		pont_buf_put(m, resp.message.p, resp.message.n);
		return;
	}
	if (resp.status == 404) {
		pont_buf_puts(pont_error(a, PONT_SUBJECT_NOT_FOUND), NOT_FOUND);
		return;
	}
	if (resp.status != 200) {
		m = pont_error(a, PONT_SOURCE_UNAVAILABLE);
		pont_buf_puts(m, resp.status >= 500 ? SOURCE " answered HTTP " : SOURCE " refused the query with HTTP ");
		pont_buf_putu(m, (uint64_t)resp.status);
		return;
	}
	if (pont_text(&resp, &text, &why) != 0) {
		m = pont_error(a, PONT_SOURCE_UNAVAILABLE);
		pont_buf_puts(m, SOURCE " answered text the adapter cannot read: ");
		pont_buf_put(m, why.p, why.n);
		return;
	}
	if (read_habitant(text, &h, &r) != 0) {
		m = pont_error(a, PONT_SOURCE_UNAVAILABLE);
		pont_buf_puts(m, SOURCE " answered something unreadable: ");
		pont_buf_puts(m, r.err);
		return;
	}
	write_answer(&h, &a->data);
}
