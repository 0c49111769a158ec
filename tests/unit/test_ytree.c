/*
 * test_ytree.c: the YAML layer (ytree.c) and model composition (compose.c).
 *
 * In memory through ytree_parse: positions, scalar styles, lookups, nulls,
 * and every refusal (duplicate and merge keys, tags, alias bombs, depth,
 * second documents, NUL bytes, bad UTF-8). On disk through ytree_load_model:
 * empty files, `extends` (paths, deep merge, chains, cycles, limits) and
 * `--set` (overrides, created maps, YAML values, indices, errors and where
 * they point). Files go into a fresh mkdtemp folder that each test removes.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compiler/lang/diag.h"
#include "tests/unit/test.h"
#include "compiler/lang/ytree.h"

#define CHECK_LACKS(hay, needle) CHECK(!(hay) || !strstr((hay), (needle)))

/* Messages written through diag while capturing; reset by cap_begin. */
static FILE *cap_file;
static char *cap_buf;
static size_t cap_len;
static char cap_text[16384];

static void cap_begin(void) {
    diag_reset();
    cap_buf = NULL;
    cap_len = 0;
    cap_file = open_memstream(&cap_buf, &cap_len);
    diag_set_stream(cap_file);
}

/* Ends the capture; the text stays in cap_text until the next capture. */
static const char *cap_end(void) {
    diag_set_stream(NULL);
    fclose(cap_file);
    snprintf(cap_text, sizeof cap_text, "%s", cap_buf ? cap_buf : "");
    free(cap_buf);
    cap_buf = NULL;
    return cap_text;
}

/* Parses `text` as t.yaml, capturing messages. */
static bool parse(const char *text, YDoc *d) {
    cap_begin();
    bool ok = ytree_parse("t.yaml", text, strlen(text), d);
    cap_end();
    return ok;
}

/* Parses a text that must fail; returns the messages, the tree freed. */
static const char *parse_error(const char *text) {
    YDoc d;
    bool ok = parse(text, &d);
    CHECK(!ok);
    ytree_free(&d);
    return cap_text;
}

static const YNode *at_path(const YNode *n, const char *a, const char *b, const char *c) {
    n = ynode_get(n, a);
    if (b) n = ynode_get(n, b);
    if (c) n = ynode_get(n, c);
    return n;
}

static bool scalar_is(const YNode *n, const char *text) {
    return n && n->kind == YNODE_SCALAR && !strcmp(n->text, text);
}

static int tree_depth(const YNode *n) {
    if (!n || n->kind == YNODE_SCALAR) return 0;
    int best = 0;
    for (int i = 0; i < n->n; i++) {
        int d = tree_depth(n->items[i]);
        if (d > best) best = d;
    }
    return best + 1;
}

/* ---- temporary files ---- */

static char tmpdir[PATH_MAX];

static void tmp_begin(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gptc-unit-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        test_fail(__FILE__, __LINE__, "mkdtemp failed");
        tmpdir[0] = '\0';
    }
}

/* Writes `text` to tmpdir/name (creating one level of folder) and returns
 * the full path in a static ring of buffers. */
static const char *tmp_write_n(const char *name, const char *text, size_t len) {
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];
    const char *slash = strrchr(name, '/');
    if (slash) {
        char dir[PATH_MAX];
        int n = snprintf(dir, sizeof dir, "%s/%.*s", tmpdir, (int)(slash - name), name);
        if (n > 0 && n < (int)sizeof dir) mkdir(dir, 0700);
    }
    if (snprintf(p, PATH_MAX, "%s/%s", tmpdir, name) >= PATH_MAX)
        test_fail(__FILE__, __LINE__, "temporary path too long");
    FILE *f = fopen(p, "wb");
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write a temporary file");
        return p;
    }
    fwrite(text, 1, len, f);
    fclose(f);
    return p;
}

static const char *tmp_write(const char *name, const char *text) {
    return tmp_write_n(name, text, strlen(text));
}

static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[PATH_MAX + 260];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void tmp_end(void) {
    if (tmpdir[0]) rm_tree(tmpdir);
    tmpdir[0] = '\0';
    diag_reset();
}

/* Loads a model with --set overrides, capturing messages. */
static bool load(const char *path, const char *const *sets, int nsets, YDoc *d) {
    cap_begin();
    bool ok = ytree_load_model(path, sets, nsets, d);
    cap_end();
    return ok;
}

static const char *load_error(const char *path, const char *const *sets, int nsets) {
    YDoc d;
    bool ok = load(path, sets, nsets, &d);
    CHECK(!ok);
    ytree_free(&d);
    return cap_text;
}

/* ---- parsing: positions, styles, lookups ---- */

TEST(ytree_positions) {
    YDoc d;
    CHECK(parse("# comment\n"
                "name: gptc\n"
                "model:\n"
                "  dim: 256\n"
                "  list: [1, 22]\n"
                "  flow: {a: 1}\n",
                &d));
    const YNode *root = d.root;
    CHECK(root && root->kind == YNODE_MAP);
    CHECK_EQ_INT(root->n, 2);
    CHECK(!strcmp(root->keys[0]->text, "name"));
    CHECK_EQ_INT(root->keys[0]->at.line, 2);
    CHECK_EQ_INT(root->keys[0]->at.col, 1);
    CHECK_EQ_INT(root->items[0]->at.line, 2);
    CHECK_EQ_INT(root->items[0]->at.col, 7);
    CHECK(!strcmp(root->items[0]->at.file, "t.yaml"));
    const YNode *model = ynode_get(root, "model");
    CHECK(model && model->kind == YNODE_MAP);
    CHECK_EQ_INT(root->keys[1]->at.line, 3);
    CHECK_EQ_INT(model->at.line, 4);
    CHECK_EQ_INT(model->at.col, 3);
    CHECK_EQ_INT(model->keys[0]->at.line, 4);
    CHECK_EQ_INT(model->keys[0]->at.col, 3);
    const YNode *dim = ynode_get(model, "dim");
    CHECK(scalar_is(dim, "256"));
    CHECK_EQ_INT(dim->at.line, 4);
    CHECK_EQ_INT(dim->at.col, 8);
    const YNode *list = ynode_get(model, "list");
    CHECK(list && list->kind == YNODE_SEQ && list->n == 2);
    CHECK_EQ_INT(list->at.line, 5);
    CHECK_EQ_INT(list->at.col, 9);
    CHECK(scalar_is(list->items[1], "22"));
    CHECK_EQ_INT(list->items[0]->at.col, 10);
    CHECK_EQ_INT(list->items[1]->at.col, 13);
    const YNode *a = at_path(root, "model", "flow", "a");
    CHECK(scalar_is(a, "1"));
    CHECK_EQ_INT(a->at.line, 6);
    CHECK_EQ_INT(a->at.col, 13);
    ytree_free(&d);
    CHECK(d.root == NULL && d.arena == NULL);
    diag_reset();
}

TEST(ytree_scalar_styles) {
    YDoc d;
    CHECK(parse("p: x\n"
                "s: 'x'\n"
                "q: \"x\"\n"
                "l: |\n  x\n"
                "f: >\n  x\n"
                "t: !!str x\n"
                "i: !!int 5\n"
                "e: \"a\\tb\"\n",
                &d));
    const YNode *r = d.root;
    CHECK(ynode_get(r, "p")->plain);
    CHECK(!ynode_get(r, "s")->plain);
    CHECK(!ynode_get(r, "q")->plain);
    CHECK(!ynode_get(r, "l")->plain);
    CHECK(!ynode_get(r, "f")->plain);
    CHECK(scalar_is(ynode_get(r, "l"), "x\n"));
    /* !!str makes a plain-looking scalar a string. */
    CHECK(scalar_is(ynode_get(r, "t"), "x"));
    CHECK(!ynode_get(r, "t")->plain);
    CHECK(ynode_get(r, "i")->plain);
    CHECK(scalar_is(ynode_get(r, "e"), "a\tb"));
    CHECK(!strcmp(ynode_kind_name(ynode_get(r, "p")), "a plain scalar"));
    CHECK(!strcmp(ynode_kind_name(ynode_get(r, "q")), "a quoted string"));
    ytree_free(&d);
    diag_reset();
}

TEST(ytree_get) {
    YDoc d;
    CHECK(parse("a: {b: 1}\nc: [x]\nd: y\n", &d));
    CHECK(scalar_is(at_path(d.root, "a", "b", NULL), "1"));
    CHECK(ynode_get(d.root, "zz") == NULL);
    CHECK(ynode_get(d.root, "") == NULL);
    CHECK(ynode_get(ynode_get(d.root, "c"), "x") == NULL); /* not a mapping */
    CHECK(ynode_get(ynode_get(d.root, "d"), "y") == NULL); /* a scalar */
    CHECK(ynode_get(NULL, "a") == NULL);
    CHECK(!strcmp(ynode_kind_name(ynode_get(d.root, "a")), "a mapping"));
    CHECK(!strcmp(ynode_kind_name(ynode_get(d.root, "c")), "a sequence"));
    ytree_free(&d);
    diag_reset();
}

TEST(ytree_null_variants) {
    YDoc d;
    CHECK(parse("a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: ''\ng: 'null'\nh: nul\n"
                "i: NuLL\nj: !!str null\nk: {}\nl: []\nm: \"~\"\n",
                &d));
    const YNode *r = d.root;
    const char *nulls = "abcde", *not_nulls = "fghijklm";
    for (const char *k = nulls; *k; k++) {
        char key[2] = {*k, 0};
        if (!ynode_is_null(ynode_get(r, key))) test_fail(__FILE__, __LINE__, key);
    }
    for (const char *k = not_nulls; *k; k++) {
        char key[2] = {*k, 0};
        if (ynode_is_null(ynode_get(r, key))) test_fail(__FILE__, __LINE__, key);
    }
    CHECK(!ynode_is_null(NULL));
    CHECK(!strcmp(ynode_kind_name(ynode_get(r, "e")), "null"));
    ytree_free(&d);
    diag_reset();
}

TEST(ytree_empty_text_is_null_root) {
    YDoc d;
    CHECK(parse("", &d));
    CHECK(d.root && d.root->kind == YNODE_SCALAR && ynode_is_null(d.root));
    ytree_free(&d);
    CHECK(parse("# only a comment\n", &d));
    CHECK(ynode_is_null(d.root));
    ytree_free(&d);
    diag_reset();
}

/* ---- parsing: refusals ---- */

TEST(ytree_duplicate_keys) {
    const char *m = parse_error("a: 1\nb: 2\na: 3\n");
    CHECK_HAS(m, "t.yaml:3:1: error: duplicate key 'a'");
    CHECK_HAS(m, "t.yaml:1:1: note: 'a' was first given here");
    m = parse_error("m:\n  x: 1\n  y: 2\n  x: 3\n");
    CHECK_HAS(m, "t.yaml:4:3: error: duplicate key 'x'");
    CHECK_HAS(m, "t.yaml:2:3: note:");
    m = parse_error("m: {x: 1, x: 2}\n");
    CHECK_HAS(m, "t.yaml:1:11: error: duplicate key 'x'");
    /* The same key in two different mappings is fine. */
    YDoc d;
    CHECK(parse("a: {x: 1}\nb: {x: 1}\n", &d));
    ytree_free(&d);
    /* Quoted and plain spellings of one key are one key. */
    m = parse_error("a: 1\n'a': 2\n");
    CHECK_HAS(m, "t.yaml:2:1: error: duplicate key 'a'");
    diag_reset();
}

TEST(ytree_merge_key_rejected) {
    const char *m = parse_error("base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n");
    CHECK_HAS(m, "t.yaml:3:3: error: merge keys (<<) are not supported");
    CHECK_HAS(m, "extends");
    diag_reset();
}

TEST(ytree_non_scalar_key_rejected) {
    const char *m = parse_error("? [a, b]\n: 1\n");
    CHECK_HAS(m, "t.yaml:1:3: error: mapping keys must be plain names, found a sequence");
    m = parse_error("{a: 1}: 2\n");
    CHECK_HAS(m, "mapping keys must be plain names, found a mapping");
    diag_reset();
}

TEST(ytree_tags) {
    const char *m = parse_error("a: !foo x\n");
    CHECK_HAS(m, "t.yaml:1:4: error: unsupported YAML tag '!foo'");
    m = parse_error("a: !!python/object x\n");
    CHECK_HAS(m, "unsupported YAML tag 'tag:yaml.org,2002:python/object'");
    m = parse_error("a: !!set {x: null}\n");
    CHECK_HAS(m, "unsupported YAML tag");
    m = parse_error("a: !custom [1]\n");
    CHECK_HAS(m, "unsupported YAML tag '!custom'");
    YDoc d;
    CHECK(parse("a: !!str 5\nb: !!map {x: 1}\nc: !!seq [1]\nd: !!float 1.5\n", &d));
    CHECK(scalar_is(ynode_get(d.root, "a"), "5"));
    CHECK(!ynode_get(d.root, "a")->plain);
    CHECK(ynode_get(d.root, "b")->kind == YNODE_MAP);
    CHECK(ynode_get(d.root, "c")->kind == YNODE_SEQ);
    CHECK(ynode_get(d.root, "d")->plain);
    ytree_free(&d);
    diag_reset();
}

TEST(ytree_aliases_are_copies) {
    YDoc d;
    CHECK(parse("a: &x {b: 1, c: [2, 3]}\nd: *x\ns: &y hi\nt: *y\n", &d));
    const YNode *a = ynode_get(d.root, "a"), *dd = ynode_get(d.root, "d");
    CHECK(a && dd && a != dd);
    CHECK(dd->kind == YNODE_MAP && dd->n == 2);
    CHECK(scalar_is(ynode_get(dd, "b"), "1"));
    const YNode *ca = ynode_get(a, "c"), *cd = ynode_get(dd, "c");
    CHECK(ca != cd && cd->kind == YNODE_SEQ && cd->n == 2);
    CHECK(cd->items[0] != ca->items[0]);
    CHECK(scalar_is(cd->items[1], "3"));
    /* The copy's top node is at the alias; the inner nodes at the anchor. */
    CHECK_EQ_INT(dd->at.line, 2);
    CHECK_EQ_INT(dd->at.col, 4);
    CHECK_EQ_INT(ynode_get(dd, "b")->at.line, 1);
    const YNode *t = ynode_get(d.root, "t");
    CHECK(scalar_is(t, "hi") && t != ynode_get(d.root, "s"));
    CHECK_EQ_INT(t->at.line, 4);
    ytree_free(&d);
    const char *m = parse_error("a: *nope\n");
    CHECK_HAS(m, "t.yaml:1:4: error: alias '*nope' names no earlier complete anchor");
    diag_reset();
}

TEST(ytree_alias_bomb) {
    clock_t t0 = clock();
    const char *m = parse_error("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                                "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                                "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                                "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                                "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                                "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                                "i: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n");
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    char want[64];
    snprintf(want, sizeof want, "more than %d nodes", YTREE_MAX_NODES);
    CHECK_HAS(m, want);
    CHECK_HAS(m, "t.yaml:");
    CHECK(secs < 2.0);
    /* Just under the budget is fine: d holds 11111 nodes. */
    YDoc d;
    CHECK(parse("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
                &d));
    CHECK_EQ_INT(ynode_get(d.root, "d")->items[9]->items[9]->n, 10);
    ytree_free(&d);
    diag_reset();
}

static char *nested(int depth, const char *prefix) {
    size_t plen = strlen(prefix);
    char *t = malloc(plen + 2 * (size_t)depth + 4);
    memcpy(t, prefix, plen);
    for (int i = 0; i < depth; i++) t[plen + i] = '[';
    t[plen + depth] = '1';
    for (int i = 0; i < depth; i++) t[plen + depth + 1 + i] = ']';
    strcpy(t + plen + 2 * depth + 1, "\n");
    return t;
}

/* The budget runs out while line 5 expands its aliases (e would hold 111111
 * nodes); the error should point there, not at an `x` on line 1 that merely
 * was the next node copied. Open bug: ynode_copy reports at the node being
 * copied; it should report at the alias (or on_alias should check the
 * budget for the whole copy first). */
TEST(ytree_alias_bomb_position) {
    const char *m = parse_error("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                                "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                                "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n");
    CHECK_HAS(m, "more than");
    CHECK_HAS(m, "t.yaml:5:");
    diag_reset();
}

TEST(ytree_depth_limit) {
    char *ok_text = nested(YTREE_MAX_DEPTH, "");
    YDoc d;
    CHECK(parse(ok_text, &d));
    CHECK_EQ_INT(tree_depth(d.root), YTREE_MAX_DEPTH);
    ytree_free(&d);
    free(ok_text);
    char *deep = nested(YTREE_MAX_DEPTH + 1, "");
    const char *m = parse_error(deep);
    char want[64];
    snprintf(want, sizeof want, "t.yaml:1:%d: error: nesting deeper than %d levels",
             YTREE_MAX_DEPTH + 1, YTREE_MAX_DEPTH);
    CHECK_HAS(m, want);
    free(deep);
    /* Under a mapping, the mapping is one of the levels. */
    char *under = nested(YTREE_MAX_DEPTH, "a: ");
    m = parse_error(under);
    CHECK_HAS(m, "nesting deeper than");
    free(under);
    /* Very deep input is refused, not a stack overflow. */
    char *huge = nested(100000, "");
    m = parse_error(huge);
    CHECK_HAS(m, "nesting deeper than");
    free(huge);
    diag_reset();
}

/* ytree.h: "nesting deeper than YTREE_MAX_DEPTH levels [is an error]". An
 * alias copied into a nested place must not build a deeper tree than the
 * text could. Open bug: on_alias copies without looking at the copy's
 * height; it should refuse when b->depth + height(target) exceeds the limit. */
TEST(ytree_depth_limit_through_aliases) {
    char *a = nested(YTREE_MAX_DEPTH - 2, "a: &x ");
    /* b: [[[ ... *x ... ]]] with the same nesting */
    char text[1024];
    int depth = YTREE_MAX_DEPTH - 2;
    int n = snprintf(text, sizeof text, "%s", a);
    n += snprintf(text + n, sizeof text - (size_t)n, "b: ");
    for (int i = 0; i < depth; i++) text[n++] = '[';
    n += snprintf(text + n, sizeof text - (size_t)n, "*x");
    for (int i = 0; i < depth; i++) text[n++] = ']';
    text[n++] = '\n';
    text[n] = '\0';
    free(a);
    YDoc d;
    bool ok = parse(text, &d);
    CHECK(!ok || tree_depth(d.root) <= YTREE_MAX_DEPTH);
    ytree_free(&d);
    diag_reset();
}

/* Messages quote keys and tags from the file; they must not carry terminal
 * control bytes (ESC here) to the terminal. diag.c replaces them in the
 * quoted source line, not in the message. Open bug: diag.c report() prints
 * the formatted message as it is; it should replace bytes < 0x20 and 0x7f. */
TEST(ytree_messages_have_no_control_bytes) {
    const char *texts[] = {"\"a\\e[2J\": 1\n\"a\\e[2J\": 2\n", "b: !<%1b[31m> x\n"};
    for (int t = 0; t < 2; t++) {
        const char *m = parse_error(texts[t]);
        CHECK_HAS(m, t == 0 ? "duplicate key" : "unsupported YAML tag");
        for (const char *p = m; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c < 0x20 && c != '\n') || c == 0x7f) {
                char msg[96];
                snprintf(msg, sizeof msg, "byte 0x%02x in the message of case %d", c, t);
                test_fail(__FILE__, __LINE__, msg);
                break;
            }
        }
    }
    diag_reset();
}

TEST(ytree_second_document) {
    const char *m = parse_error("a: 1\n---\nb: 2\n");
    CHECK_HAS(m, "t.yaml:2:1: error: a model file holds one YAML document; found a second");
    m = parse_error("a: 1\n...\n---\nb: 2\n");
    CHECK_HAS(m, "found a second");
    /* One explicit document is fine. */
    YDoc d;
    CHECK(parse("---\na: 1\n...\n", &d));
    CHECK(scalar_is(ynode_get(d.root, "a"), "1"));
    ytree_free(&d);
    diag_reset();
}

TEST(ytree_nul_byte) {
    static const char text[] = "a: 1\nb\0: 2\n";
    YDoc d;
    cap_begin();
    CHECK(!ytree_parse("t.yaml", text, sizeof text - 1, &d));
    const char *m = cap_end();
    CHECK_HAS(m, "t.yaml:2:2: error: the file contains a NUL byte");
    ytree_free(&d);
    static const char first[] = "\0a: 1\n";
    cap_begin();
    CHECK(!ytree_parse("t.yaml", first, sizeof first - 1, &d));
    m = cap_end();
    CHECK_HAS(m, "t.yaml:1:1: error: the file contains a NUL byte");
    ytree_free(&d);
    diag_reset();
}

TEST(ytree_invalid_utf8) {
    const char *m = parse_error("a: 1\nb: caf\xc3\n");
    CHECK_HAS(m, "t.yaml:2:");
    CHECK_HAS(m, "error: the file is not valid UTF-8 (");
    m = parse_error("a: \xff\xfe\n");
    CHECK_HAS(m, "t.yaml:1:4: error: the file is not valid UTF-8");
    m = parse_error("a: \xc0\x80\n"); /* overlong NUL */
    CHECK_HAS(m, "t.yaml:1:4: error: the file is not valid UTF-8");
    /* Columns count characters: the bad byte after a two-byte one is column 5. */
    m = parse_error("a: 1\nb: \xc3\xa9\xff\n");
    CHECK_HAS(m, "t.yaml:2:5: error: the file is not valid UTF-8");
    m = parse_error("a: \xed\xa0\x80\n"); /* a UTF-16 surrogate */
    CHECK_HAS(m, "not valid UTF-8");
    YDoc d;
    CHECK(parse("a: caf\xc3\xa9\n", &d)); /* valid UTF-8 is fine */
    CHECK(scalar_is(ynode_get(d.root, "a"), "caf\xc3\xa9"));
    ytree_free(&d);
    diag_reset();
}

TEST(ytree_syntax_error_position) {
    const char *m = parse_error("a: 1\nb: [1, 2\nc: 3\n");
    CHECK_HAS(m, "error: YAML syntax error");
    CHECK_HAS(m, "t.yaml:");
    m = parse_error("a: 1\n  b: 2\n");
    CHECK_HAS(m, "t.yaml:2:");
    CHECK_HAS(m, "YAML syntax error");
    diag_reset();
}

/* A tab where YAML wants indentation is named as such, wherever libyaml
 * stops on it and however it words that. */
TEST(ytree_tab_indentation) {
    const char *m = parse_error("model:\n\tlayers: 6\n");
    CHECK_HAS(m, "t.yaml:2:1: error: a tab character; YAML indents with spaces\n");
    m = parse_error("model:\n  layers: 6\n  \tdim: 128\n");
    CHECK_HAS(m, "t.yaml:3:3: error: a tab character; YAML indents with spaces\n");
    m = parse_error("a: |\n  x\n\ty\n");
    CHECK_HAS(m, "t.yaml:3:1: error: a tab character");
    m = parse_error("a:\n- 1\n\t- 2\n");
    CHECK_HAS(m, "t.yaml:3:1: error: a tab character");
    /* Tabs that YAML allows are no error: inside a flow collection, and
     * between a key and its value. */
    YDoc d;
    CHECK(parse("a: {b:\t1,\n\tc: 2}\nd:\t3\n", &d));
    CHECK(scalar_is(at_path(d.root, "a", "c", NULL), "2"));
    ytree_free(&d);
    /* Another error on a line indented with a tab keeps libyaml's words. */
    m = parse_error("a: [1,\n\t2\n");
    CHECK_HAS(m, "YAML syntax error");
    CHECK_LACKS(m, "a tab character");
    diag_reset();
}

TEST(ytree_parse_size_limit) {
    size_t len = (size_t)YTREE_MAX_BYTES + 1;
    char *big = malloc(len);
    memset(big, '#', len);
    YDoc d;
    cap_begin();
    CHECK(!ytree_parse("big.yaml", big, len, &d));
    const char *m = cap_end();
    CHECK_HAS(m, "big.yaml: error: the file is 1048577 bytes");
    ytree_free(&d);
    free(big);
    diag_reset();
}

/* ---- loading files ---- */

TEST(load_empty_and_comment_only_files) {
    tmp_begin();
    const char *p = tmp_write("empty.yaml", "");
    const char *m = load_error(p, NULL, 0);
    CHECK_HAS(m, "empty.yaml:1:1: error: the file is empty");
    p = tmp_write("comments.yaml", "# a comment\n\n   # another\n\t\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "comments.yaml:1:1: error: the file is empty");
    p = tmp_write("scalar.yaml", "42\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "scalar.yaml:1:1: error: the top level of a model file must be a mapping of "
                 "keys, found a plain scalar");
    p = tmp_write("seq.yaml", "- a\n- b\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "found a sequence");
    p = tmp_write("null.yaml", "~\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "found null");
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/nope.yaml", tmpdir);
    m = load_error(missing, NULL, 0);
    CHECK_HAS(m, "gptc: error: cannot open model file");
    CHECK_HAS(m, "nope.yaml");
    tmp_end();
}

TEST(load_file_too_large) {
    tmp_begin();
    size_t len = (size_t)YTREE_MAX_BYTES + 10;
    char *big = malloc(len);
    memset(big, '#', len);
    const char *p = tmp_write_n("big.yaml", big, len);
    free(big);
    const char *m = load_error(p, NULL, 0);
    CHECK_HAS(m, "is larger than 1048576 bytes");
    tmp_end();
}

TEST(load_plain_file_positions) {
    tmp_begin();
    const char *p = tmp_write("m.yaml", "model:\n  dim: 64\n");
    YDoc d;
    CHECK(load(p, NULL, 0, &d));
    const YNode *dim = at_path(d.root, "model", "dim", NULL);
    CHECK(scalar_is(dim, "64"));
    CHECK(dim && !strcmp(dim->at.file, p));
    CHECK_EQ_INT(dim->at.line, 2);
    CHECK_EQ_INT(dim->at.col, 8);
    ytree_free(&d);
    tmp_end();
}

/* ---- extends ---- */

TEST(extends_relative_to_child_folder) {
    tmp_begin();
    tmp_write("base.yaml", "a: base\n");
    tmp_write("sub/base.yaml", "a: sub-base\n");
    const char *child = tmp_write("sub/child.yaml", "extends: base.yaml\nb: 1\n");
    YDoc d;
    CHECK(load(child, NULL, 0, &d));
    CHECK(scalar_is(ynode_get(d.root, "a"), "sub-base"));
    CHECK(scalar_is(ynode_get(d.root, "b"), "1"));
    CHECK(ynode_get(d.root, "extends") == NULL);
    ytree_free(&d);
    const char *up = tmp_write("sub/up.yaml", "extends: ../base.yaml\n");
    CHECK(load(up, NULL, 0, &d));
    CHECK(scalar_is(ynode_get(d.root, "a"), "base"));
    ytree_free(&d);
    /* An absolute path is taken as it is. */
    char text[PATH_MAX + 32];
    snprintf(text, sizeof text, "extends: \"%s/base.yaml\"\n", tmpdir);
    const char *abs = tmp_write("sub/abs.yaml", text);
    CHECK(load(abs, NULL, 0, &d));
    CHECK(scalar_is(ynode_get(d.root, "a"), "base"));
    ytree_free(&d);
    /* A child named without a folder resolves from the working directory,
     * which is then its folder. */
    char cwd[PATH_MAX];
    char sub[PATH_MAX + 8];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    if (getcwd(cwd, sizeof cwd) && chdir(sub) == 0) {
        CHECK(load("child.yaml", NULL, 0, &d));
        CHECK(scalar_is(ynode_get(d.root, "a"), "sub-base"));
        ytree_free(&d);
        if (chdir(tmpdir) == 0) {
            CHECK(load("sub/up.yaml", NULL, 0, &d));
            CHECK(scalar_is(ynode_get(d.root, "a"), "base"));
            ytree_free(&d);
        }
        CHECK(chdir(cwd) == 0);
    } else {
        test_fail(__FILE__, __LINE__, "cannot change directory");
    }
    tmp_end();
}

TEST(extends_deep_merge) {
    tmp_begin();
    tmp_write("base.yaml", "model:\n"
                           "  dim: 64\n"
                           "  heads: 4\n"
                           "  deep: {x: 1, y: 2}\n"
                           "list: [1, 2, 3]\n"
                           "scalar: parent\n"
                           "map_to_scalar: {k: v}\n"
                           "scalar_to_map: 5\n"
                           "only_parent: p\n");
    const char *child = tmp_write("child.yaml", "extends: base.yaml\n"
                                                "model:\n"
                                                "  dim: 128\n"
                                                "  deep: {y: 20, z: 30}\n"
                                                "list: [9]\n"
                                                "scalar: child\n"
                                                "map_to_scalar: 7\n"
                                                "scalar_to_map: {k: v}\n"
                                                "only_child: c\n");
    YDoc d;
    CHECK(load(child, NULL, 0, &d));
    const YNode *r = d.root;
    CHECK(scalar_is(at_path(r, "model", "dim", NULL), "128"));
    CHECK(scalar_is(at_path(r, "model", "heads", NULL), "4"));
    CHECK(scalar_is(at_path(r, "model", "deep", "x"), "1"));
    CHECK(scalar_is(at_path(r, "model", "deep", "y"), "20"));
    CHECK(scalar_is(at_path(r, "model", "deep", "z"), "30"));
    const YNode *list = ynode_get(r, "list");
    CHECK(list && list->kind == YNODE_SEQ && list->n == 1 && scalar_is(list->items[0], "9"));
    CHECK(scalar_is(ynode_get(r, "scalar"), "child"));
    CHECK(scalar_is(ynode_get(r, "map_to_scalar"), "7"));
    CHECK(scalar_is(at_path(r, "scalar_to_map", "k", NULL), "v"));
    CHECK(scalar_is(ynode_get(r, "only_parent"), "p"));
    CHECK(scalar_is(ynode_get(r, "only_child"), "c"));
    CHECK(ynode_get(r, "extends") == NULL);
    /* Each value keeps the place it was written. */
    const YNode *dim = at_path(r, "model", "dim", NULL), *heads = at_path(r, "model", "heads", NULL);
    CHECK(dim && strstr(dim->at.file, "child.yaml") && dim->at.line == 3);
    CHECK(heads && strstr(heads->at.file, "base.yaml") && heads->at.line == 3);
    /* No key appears twice after the merge. */
    const YNode *model = ynode_get(r, "model");
    CHECK_EQ_INT(model->n, 3);
    CHECK_EQ_INT(ynode_get(model, "deep")->n, 3);
    CHECK_EQ_INT(r->n, 7);
    ytree_free(&d);
    tmp_end();
}

TEST(extends_three_file_chain) {
    tmp_begin();
    tmp_write("a.yaml", "x: a\ny: a\nz: a\nm: {p: a, q: a, r: a}\n");
    tmp_write("b.yaml", "extends: a.yaml\ny: b\nz: b\nm: {q: b, r: b}\n");
    const char *c = tmp_write("c.yaml", "extends: b.yaml\nz: c\nm: {r: c}\n");
    YDoc d;
    CHECK(load(c, NULL, 0, &d));
    CHECK(scalar_is(ynode_get(d.root, "x"), "a"));
    CHECK(scalar_is(ynode_get(d.root, "y"), "b"));
    CHECK(scalar_is(ynode_get(d.root, "z"), "c"));
    CHECK(scalar_is(at_path(d.root, "m", "p", NULL), "a"));
    CHECK(scalar_is(at_path(d.root, "m", "q", NULL), "b"));
    CHECK(scalar_is(at_path(d.root, "m", "r", NULL), "c"));
    CHECK(ynode_get(d.root, "extends") == NULL);
    ytree_free(&d);
    tmp_end();
}

TEST(extends_cycles) {
    tmp_begin();
    const char *self = tmp_write("self.yaml", "a: 1\nextends: self.yaml\n");
    const char *m = load_error(self, NULL, 0);
    CHECK_HAS(m, "self.yaml:2:10: error: extends: '");
    CHECK_HAS(m, "self.yaml' is already being loaded");
    CHECK_HAS(m, "already being loaded");
    CHECK_HAS(m, "cycle");
    tmp_write("b.yaml", "extends: a.yaml\n");
    const char *a = tmp_write("a.yaml", "extends: b.yaml\n");
    m = load_error(a, NULL, 0);
    CHECK_HAS(m, "b.yaml:1:10: error: extends:");
    CHECK_HAS(m, "cycle");
    /* The same file reached by another spelling is still a cycle. */
    tmp_write("sub/keep.yaml", "k: 1\n"); /* makes the folder sub/ */
    const char *c = tmp_write("c.yaml", "extends: ./sub/../c.yaml\n");
    m = load_error(c, NULL, 0);
    CHECK_HAS(m, "cycle");
    tmp_end();
}

TEST(extends_missing_parent) {
    tmp_begin();
    const char *p = tmp_write("child.yaml", "# header\nextends: nowhere.yaml\n");
    const char *m = load_error(p, NULL, 0);
    CHECK_HAS(m, "child.yaml:2:10: error: cannot open extended file");
    CHECK_HAS(m, "nowhere.yaml");
    CHECK_HAS(m, "No such file");
    tmp_end();
}

TEST(extends_not_a_string) {
    tmp_begin();
    tmp_write("base.yaml", "a: 1\n");
    const char *p = tmp_write("list.yaml", "extends: [base.yaml]\n");
    const char *m = load_error(p, NULL, 0);
    CHECK_HAS(m, "list.yaml:1:10: error: extends: expected the path of a model file, found a "
                 "sequence");
    p = tmp_write("map.yaml", "extends: {a: base.yaml}\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "found a mapping");
    p = tmp_write("null.yaml", "extends:\nb: 1\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "expected the path of a model file, found null");
    p = tmp_write("empty.yaml", "extends: ''\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "empty.yaml:1:10: error: extends: expected the path of a model file, found an "
                 "empty string");
    /* A parent whose top level is not a mapping. */
    tmp_write("scalar.yaml", "just text\n");
    p = tmp_write("toscalar.yaml", "extends: scalar.yaml\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "scalar.yaml:1:1: error: the top level of a model file must be a mapping");
    /* An empty parent. */
    tmp_write("blank.yaml", "# nothing\n");
    p = tmp_write("toblank.yaml", "extends: blank.yaml\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "blank.yaml:1:1: error: the file is empty");
    /* A parent folder is not a file. */
    p = tmp_write("todir.yaml", "extends: .\n");
    m = load_error(p, NULL, 0);
    CHECK_HAS(m, "todir.yaml:1:10: error:");
    tmp_end();
}

TEST(extends_depth_limit) {
    tmp_begin();
    /* f0 extends f1 ... extends f(N-1): N files in the chain. */
    char name[32], text[64];
    for (int i = 0; i <= YTREE_MAX_EXTENDS; i++) {
        snprintf(name, sizeof name, "f%d.yaml", i);
        if (i < YTREE_MAX_EXTENDS)
            snprintf(text, sizeof text, "extends: f%d.yaml\nk%d: %d\n", i + 1, i, i);
        else
            snprintf(text, sizeof text, "k%d: %d\n", i, i);
        tmp_write(name, text);
    }
    /* g.yaml starts a chain of exactly YTREE_MAX_EXTENDS files (f1..f16). */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/f1.yaml", tmpdir);
    YDoc d;
    CHECK(load(path, NULL, 0, &d));
    CHECK(scalar_is(ynode_get(d.root, "k1"), "1"));
    CHECK(scalar_is(ynode_get(d.root, "k16"), "16"));
    ytree_free(&d);
    /* f0 starts a chain of YTREE_MAX_EXTENDS + 1 files. */
    snprintf(path, sizeof path, "%s/f0.yaml", tmpdir);
    const char *m = load_error(path, NULL, 0);
    char want[64];
    snprintf(want, sizeof want, "extends: more than %d files deep", YTREE_MAX_EXTENDS);
    CHECK_HAS(m, want);
    CHECK_HAS(m, "f15.yaml:1:10: error:");
    tmp_end();
}

/* ---- --set ---- */

static const char *set_base(void) {
    return tmp_write("base.yaml", "model:\n"
                                  "  dim: 64\n"
                                  "  heads: 4\n"
                                  "skips:\n"
                                  "  pairs: [[6, 9], [4, 10]]\n"
                                  "seq: [a, b, c]\n"
                                  "empty: []\n"
                                  "section:\n");
}

TEST(set_simple_override) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"model.dim=256"};
    YDoc d;
    CHECK(load(p, sets, 1, &d));
    const YNode *dim = at_path(d.root, "model", "dim", NULL);
    CHECK(scalar_is(dim, "256") && dim->plain);
    CHECK(scalar_is(at_path(d.root, "model", "heads", NULL), "4"));
    CHECK(dim && !strcmp(dim->at.file, "--set #1"));
    CHECK_EQ_INT(dim->at.line, 1);
    CHECK_EQ_INT(dim->at.col, 11);
    CHECK_EQ_INT(ynode_get(d.root, "model")->n, 2);
    ytree_free(&d);
    /* A quoted value stays a quoted string. */
    const char *quoted[] = {"model.dim='256'"};
    CHECK(load(p, quoted, 1, &d));
    CHECK(!at_path(d.root, "model", "dim", NULL)->plain);
    ytree_free(&d);
    /* A value may hold '='. */
    const char *eq[] = {"text=a=b"};
    CHECK(load(p, eq, 1, &d));
    CHECK(scalar_is(ynode_get(d.root, "text"), "a=b"));
    ytree_free(&d);
    tmp_end();
}

/* Includes merging into an empty mapping (what a --set creates, or a `{}`
 * in a parent file), which once did memcpy from NULL (UBSan). */
TEST(set_creates_missing_maps) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"a.b.c=1", "model.new.deep=x"};
    YDoc d;
    CHECK(load(p, sets, 2, &d));
    const YNode *a = ynode_get(d.root, "a");
    CHECK(a && a->kind == YNODE_MAP && a->n == 1);
    CHECK(scalar_is(at_path(d.root, "a", "b", "c"), "1"));
    CHECK(scalar_is(at_path(d.root, "model", "new", "deep"), "x"));
    CHECK(scalar_is(at_path(d.root, "model", "dim", NULL), "64"));
    /* Created keys point at the --set that made them. */
    CHECK(a && !strcmp(a->at.file, "--set #1"));
    ytree_free(&d);
    /* Merging into an empty mapping, through extends: {} in the parent. */
    tmp_write("emptyparent.yaml", "m: {}\nn: 1\n");
    const char *child = tmp_write("emptychild.yaml", "extends: emptyparent.yaml\nm: {k: 2}\n");
    CHECK(load(child, NULL, 0, &d));
    CHECK(scalar_is(at_path(d.root, "m", "k", NULL), "2"));
    ytree_free(&d);
    tmp_end();
}

TEST(set_value_is_yaml) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"skips.pairs=[[1, 3]]", "model.heads=null", "model.deep={a: 1, b: [2]}",
                          "seq=[]", "text=\"quoted\"", "model.dim="};
    YDoc d;
    CHECK(load(p, sets, 6, &d));
    const YNode *pairs = at_path(d.root, "skips", "pairs", NULL);
    CHECK(pairs && pairs->kind == YNODE_SEQ && pairs->n == 1);
    CHECK(pairs && pairs->items[0]->kind == YNODE_SEQ && scalar_is(pairs->items[0]->items[1], "3"));
    CHECK(ynode_is_null(at_path(d.root, "model", "heads", NULL)));
    CHECK(scalar_is(at_path(d.root, "model", "deep", "a"), "1"));
    CHECK(at_path(d.root, "model", "deep", "b")->kind == YNODE_SEQ);
    CHECK(ynode_get(d.root, "seq")->kind == YNODE_SEQ && ynode_get(d.root, "seq")->n == 0);
    const YNode *text = ynode_get(d.root, "text");
    CHECK(scalar_is(text, "quoted") && !text->plain);
    CHECK(ynode_is_null(at_path(d.root, "model", "dim", NULL)));
    ytree_free(&d);
    /* A mapping value merges into an existing mapping, like extends. */
    const char *merge[] = {"model={dim: 8}"};
    CHECK(load(p, merge, 1, &d));
    CHECK(scalar_is(at_path(d.root, "model", "dim", NULL), "8"));
    CHECK(scalar_is(at_path(d.root, "model", "heads", NULL), "4"));
    ytree_free(&d);
    /* A bad YAML value is a syntax error inside the --set text. */
    const char *bad[] = {"model.dim=ok", "model.dim=[1, 2"};
    const char *m = load_error(p, bad, 2);
    CHECK_HAS(m, "--set #2:");
    CHECK_HAS(m, "YAML syntax error");
    const char *two[] = {"model.dim=a: 1\n---\nb: 2"};
    m = load_error(p, two, 1);
    CHECK_HAS(m, "--set #1:2:1: error: a model file holds one YAML document");
    const char *dup[] = {"model={a: 1, a: 2}"};
    m = load_error(p, dup, 1);
    CHECK_HAS(m, "--set #1:1:14: error: duplicate key 'a'");
    tmp_end();
}

TEST(set_sequence_index) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"skips.pairs.1.0=3", "seq.0=z", "seq.2={k: v}"};
    YDoc d;
    CHECK(load(p, sets, 3, &d));
    const YNode *pairs = at_path(d.root, "skips", "pairs", NULL);
    CHECK(pairs && pairs->n == 2);
    CHECK(scalar_is(pairs->items[1]->items[0], "3"));
    CHECK(scalar_is(pairs->items[1]->items[1], "10"));
    CHECK(scalar_is(pairs->items[0]->items[0], "6"));
    const YNode *seq = ynode_get(d.root, "seq");
    CHECK(seq && seq->n == 3 && scalar_is(seq->items[0], "z") && scalar_is(seq->items[1], "b"));
    CHECK(scalar_is(ynode_get(seq->items[2], "k"), "v"));
    ytree_free(&d);
    tmp_end();
}

TEST(set_bad_index) {
    tmp_begin();
    const char *p = set_base();
    const char *past[] = {"skips.pairs.2=[1, 2]"};
    const char *m = load_error(p, past, 1);
    CHECK_HAS(m, "--set #1:1:1: error: --set skips.pairs.2=[1, 2]: '2' indexes a sequence of 2 "
                 "items; expected an index from 0 to 1");
    const char *word[] = {"seq.x=1"};
    m = load_error(p, word, 1);
    CHECK_HAS(m, "'x' indexes a sequence of 3 items");
    const char *neg[] = {"seq.-1=1"};
    m = load_error(p, neg, 1);
    CHECK_HAS(m, "'-1' indexes a sequence");
    const char *big[] = {"seq.99999999999=1"};
    m = load_error(p, big, 1);
    CHECK_HAS(m, "indexes a sequence of 3 items");
    const char *deeper[] = {"skips.pairs.0.5=1"};
    m = load_error(p, deeper, 1);
    CHECK_HAS(m, "'5' indexes a sequence of 2 items");
    tmp_end();
}

/* An empty sequence has no valid index; "from 0 to -1" is no range. */
TEST(set_index_into_empty_sequence_message) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"empty.0=1"};
    const char *m = load_error(p, sets, 1);
    CHECK_HAS(m, "--set #1:1:1: error: --set empty.0=1: 'empty' is an empty sequence");
    CHECK_LACKS(m, "from 0 to -1");
    tmp_end();
}

TEST(set_through_a_scalar) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"model.dim.x=1"};
    const char *m = load_error(p, sets, 1);
    CHECK_HAS(m, "--set #1:1:1: error: --set model.dim.x=1:");
    CHECK_HAS(m, "holds a value, not a mapping or sequence");
    const char *item[] = {"seq.0.k=1"};
    m = load_error(p, item, 1);
    CHECK_HAS(m, "holds a value");
    tmp_end();
}

/* The segment that holds a value is `dim`, not `x`. */
TEST(set_through_a_scalar_names_the_scalar) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"model.dim.x=1"};
    const char *m = load_error(p, sets, 1);
    CHECK_HAS(m, "dim' holds a value");
    CHECK_LACKS(m, "'x' holds a value");
    tmp_end();
}

/* A section given as null is accepted by the validator as an empty section;
 * --set into it should create the key there, as it does for a missing
 * section. Open bug: set_path stops at the null scalar ("'section' holds a
 * value"); it should replace a null on the path with a new mapping. */
TEST(set_into_null_section) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"section.key=1"};
    YDoc d;
    CHECK(load(p, sets, 1, &d));
    CHECK(scalar_is(at_path(d.root, "section", "key", NULL), "1"));
    ytree_free(&d);
    tmp_end();
}

TEST(set_missing_equals_and_empty_segments) {
    tmp_begin();
    const char *p = set_base();
    const char *noeq[] = {"model.dim"};
    const char *m = load_error(p, noeq, 1);
    CHECK_HAS(m, "--set #1:1:1: error: --set expects KEY=VALUE (for example model.dim=256), found "
                 "'model.dim'");
    const char *nokey[] = {"=5"};
    m = load_error(p, nokey, 1);
    CHECK_HAS(m, "--set expects KEY=VALUE");
    const char *bad_paths[] = {"model..dim=1", ".model=1", "model.=1", "a.b..=1"};
    for (int i = 0; i < 4; i++) {
        m = load_error(p, &bad_paths[i], 1);
        CHECK_HAS(m, "--set #1:1:1: error: --set: '");
        CHECK_HAS(m, "is not a key path like model.dim");
    }
    /* Too many segments. */
    char longpath[256] = "";
    for (int i = 0; i <= YTREE_MAX_DEPTH; i++) strcat(longpath, "a.");
    strcat(longpath, "z=1");
    const char *deep[] = {longpath};
    m = load_error(p, deep, 1);
    CHECK_HAS(m, "is not a key path");
    tmp_end();
}

TEST(set_applied_in_order) {
    tmp_begin();
    const char *p = set_base();
    const char *sets[] = {"model.dim=1", "model.dim=2", "model.heads=3", "model.dim=4"};
    YDoc d;
    CHECK(load(p, sets, 4, &d));
    const YNode *dim = at_path(d.root, "model", "dim", NULL);
    CHECK(scalar_is(dim, "4"));
    CHECK(dim && !strcmp(dim->at.file, "--set #4"));
    CHECK(scalar_is(at_path(d.root, "model", "heads", NULL), "3"));
    CHECK_EQ_INT(ynode_get(d.root, "model")->n, 2);
    ytree_free(&d);
    /* A later --set may go through what an earlier one made. */
    const char *chain[] = {"x=[1, 2]", "x.1=5"};
    CHECK(load(p, chain, 2, &d));
    CHECK(scalar_is(ynode_get(d.root, "x")->items[1], "5"));
    ytree_free(&d);
    /* The first bad --set stops the load; its number is in the message. */
    const char *bad[] = {"model.dim=1", "oops", "alsobad"};
    const char *m = load_error(p, bad, 3);
    CHECK_HAS(m, "--set #2:1:1: error:");
    CHECK_LACKS(m, "--set #3");
    tmp_end();
}

TEST(set_error_positions) {
    tmp_begin();
    const char *p = set_base();
    /* Positions of the value count from the start of the --set text. */
    const char *sets[] = {"a=1", "model.heads=[1, !foo 2]"};
    const char *m = load_error(p, sets, 2);
    CHECK_HAS(m, "--set #2:1:17: error: unsupported YAML tag '!foo'");
    /* The quoted line is the --set text, with the caret under the column. */
    CHECK_HAS(m, "     1 | model.heads=[1, !foo 2]\n       |                 ^\n");
    const char *dup[] = {"x={k: 1, k: 2}"};
    m = load_error(p, dup, 1);
    CHECK_HAS(m, "--set #1:1:10: error: duplicate key 'k'");
    CHECK_HAS(m, "--set #1:1:4: note:");
    const char *nul[] = {"x=*nope"};
    m = load_error(p, nul, 1);
    CHECK_HAS(m, "--set #1:1:3: error: alias '*nope'");
    tmp_end();
}

TEST(set_after_extends) {
    tmp_begin();
    tmp_write("parent.yaml", "model: {dim: 1, heads: 2}\n");
    const char *child = tmp_write("child.yaml", "extends: parent.yaml\nmodel: {dim: 3}\n");
    const char *sets[] = {"model.heads=9"};
    YDoc d;
    CHECK(load(child, sets, 1, &d));
    CHECK(scalar_is(at_path(d.root, "model", "dim", NULL), "3"));
    CHECK(scalar_is(at_path(d.root, "model", "heads", NULL), "9"));
    ytree_free(&d);
    tmp_end();
}

/* A syntax error at the end of a one-line --set value should point into
 * that line (after the '='), not at a line 2 the text does not have.
 * Open bug: libyaml's end-of-stream mark is one line past the text, and
 * the column offset only applies to line 1; syntax_error should clamp the
 * mark to the end of the text. */
TEST(set_syntax_error_at_end_points_into_the_text) {
    tmp_begin();
    const char *p = set_base();
    const char *bad[] = {"model.dim=[1, 2"};
    const char *m = load_error(p, bad, 1);
    CHECK_HAS(m, "--set #1:1:");
    CHECK_HAS(m, "     1 | model.dim=[1, 2\n");
    tmp_end();
}
