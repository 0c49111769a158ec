/*
 * cmd_data.c: `gptc data TEXT... -o DIR`, text files to token shards.
 *
 * Two tokenizers: bytes (tokenize.h, the default) and GPT-2's BPE (bpe.h,
 * --tokenizer gpt2, reading GPT-2's ranks file). Either way a document is
 * written as [EOT] + its tokens.
 *
 * Two passes over the inputs. The first counts documents and tokens, so the
 * val share (--val-fraction of all tokens) is known before anything is
 * written; under BPE that means encoding every document twice, which costs
 * less than holding a whole corpus's tokens in memory. The second
 * tokenizes each document and sends it to the val shard while the val
 * share is not yet reached, and
 * to the train stream after that. The val shard takes whole documents, and
 * a later document with the same text as one of them is dropped (a
 * corpus often repeats boilerplate), so validation never scores text that
 * training saw; the train stream is cut every --shard-tokens tokens, and a
 * document may spill over a train shard boundary, as in the recipe's
 * fineweb.py. An input named twice, or by two paths (a link), is read once.
 *
 * Every shard goes through shard_write (temporary file, fsync, rename), so
 * an interrupted run leaves whole shards or none. The val shard is written
 * when the first train document arrives, after every check that could
 * refuse the split, so a refused split writes nothing. Train shards left
 * over from an earlier, longer run under the same name would be picked up
 * by the loader's glob, so they are removed (and the summary says so).
 */
#include "cli/cmd_data.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/data/bpe.h"
#include "cli/cli.h"
#include "runtime/data/data.h"
#include "runtime/data/textset.h"
#include "runtime/data/tokenize.h"

#define DEFAULT_SHARD_TOKENS 100000000 /* the recipe's 10^8 tokens per shard */
#define DEFAULT_VAL_FRACTION 0.1
#define MAX_SHARD_INDEX 999999 /* six digits keep the names in sorted order */

static const char data_help[] =
    "Usage: gptc data TEXT... -o DIR [--name NAME] [--val-docs N | --val-fraction F]\n"
    "                 [--shard-tokens N] [--paragraphs] [--tokenizer byte|gpt2]\n"
    "                 [--vocab PATH] [--quiet]\n"
    "\n"
    "Turns text files into the token shards that training reads. The end-of-text\n"
    "token (EOT) opens every document. Two tokenizers:\n"
    "  byte  the byte-level tokenizer of the small models (the default): each\n"
    "        byte is one token (0..255), EOT is 256 and the vocabulary 257\n"
    "        (models/tiny.yaml: vocab.size 257, vocab.eot 256).\n"
    "  gpt2  GPT-2's BPE, as tiktoken's 'gpt2' encoding (the recipe's): EOT is\n"
    "        50256 and the vocabulary 50257. It reads GPT-2's ranks file,\n"
    "        data/gpt2/gpt2.tiktoken unless --vocab says otherwise; gptc never\n"
    "        downloads it: scripts/get-gpt2-vocab.sh fetches it once. The text\n"
    "        is read as UTF-8, and bytes that are not valid UTF-8 become U+FFFD\n"
    "        (as Python reading it with errors='replace'); \"<|endoftext|>\" in the\n"
    "        text is ordinary text, not EOT.\n"
    "\n"
    "Each TEXT file is one document; with --paragraphs, each paragraph (lines\n"
    "separated by one or more blank lines) is a document. A file named twice, or\n"
    "by two paths, is read once. The first documents go to the validation shard\n"
    "until it holds its share of the tokens; the rest fill the training shards\n"
    "in order, less any document whose text is already in the validation shard:\n"
    "  DIR/NAME_val_000000.bin\n"
    "  DIR/NAME_train_000001.bin, DIR/NAME_train_000002.bin, ...\n"
    "A model file then names them with globs, e.g.\n"
    "  train.data.train: \"DIR/NAME_train_*.bin\"\n"
    "  train.data.val:   \"DIR/NAME_val_*.bin\"\n"
    "The files use the modded-nanogpt / llm.c shard format (a 1024-byte header,\n"
    "then uint16 tokens), and each is written to a temporary file and renamed,\n"
    "so an interrupted run never leaves a half-written shard.\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR     where the shards go (made if missing)\n"
    "  --name NAME          file name prefix (default: data)\n"
    "  --val-fraction F     validation share of all tokens, 0 <= F < 1, in whole\n"
    "                       documents (default 0.1; 0 writes no val shard)\n"
    "  --val-docs N         the first N documents are the validation set instead\n"
    "  --shard-tokens N     tokens per training shard (default 100000000, as the\n"
    "                       recipe); a document may continue in the next shard.\n"
    "                       The validation shard must fit in N tokens too.\n"
    "  --paragraphs         one document per paragraph instead of per file\n"
    "  --tokenizer NAME     byte (the default) or gpt2, as above\n"
    "  --vocab PATH         GPT-2's ranks file for --tokenizer gpt2 (default\n"
    "                       data/gpt2/gpt2.tiktoken)\n"
    "  --quiet              print nothing but errors\n"
    "\n"
    "Training needs enough tokens: a run of S steps of B tokens reads about\n"
    "S x B + 2 tokens from the train shards, and each shard must hold at least\n"
    "B + 2 tokens (the loader drops the tail of a shard that cannot give a whole\n"
    "batch, as the recipe's loader does).\n"
    "\n"
    "Exit status: 0 done, 2 bad usage, an unreadable input or vocabulary or an\n"
    "output directory that cannot be made, 1 a shard that could not be written.\n"
    "\n"
    "Examples (the demo corpus):\n"
    "  gptc data data/demo/corpus.txt -o data/demo --name demo --paragraphs \\\n"
    "      --val-fraction 0.1\n"
    "  scripts/get-gpt2-vocab.sh\n"
    "  gptc data data/demo/corpus.txt -o data/demo --name demo-gpt2 --paragraphs \\\n"
    "      --val-fraction 0.1 --tokenizer gpt2\n";

typedef struct {
    char **inputs;
    int ninputs;
    const char *outdir;
    const char *name;
    bool by_docs;        /* --val-docs given: val_docs counts, else val_fraction */
    int64_t val_docs;
    double val_fraction;
    int64_t shard_tokens;
    bool paragraphs;
    bool quiet;
    bool gpt2;           /* --tokenizer gpt2, else bytes */
    const char *vocab;   /* --vocab, or NULL for GPT2_VOCAB_PATH */
    Bpe *bpe;            /* GPT-2's BPE, loaded once the options are good */
} DataOptions;

/* A growing buffer for one tokenized document. */
typedef struct {
    uint16_t *t;
    size_t cap;
} DocBuf;

/* Totals of the first pass. */
typedef struct {
    const DataOptions *o;
    int64_t docs;
    int64_t tokens;
    DocBuf doc;          /* BPE counts by encoding */
    int rc;              /* exit status once something failed, else 0 */
} Count;

/* State of the second pass. */
typedef struct {
    const DataOptions *o;
    int64_t val_target;     /* val takes documents while it holds fewer tokens */
    int64_t total_tokens;   /* from the first pass, to size the train buffer */
    DocBuf doc;             /* one tokenized document */
    uint16_t *val;          /* the val shard, written when train starts */
    int64_t nval, val_cap, val_ndocs;
    bool in_train;
    uint16_t *buf;          /* the train shard being filled */
    int64_t nbuf, buf_cap;
    int next_shard;         /* index of the next train shard file */
    int64_t train_docs, train_tokens;
    TextSet val_texts;      /* the val documents, which train must not repeat */
    int64_t dropped;        /* train documents dropped as copies of val ones */
    int rc;                 /* exit status once something failed, else 0 */
} Writer;

typedef bool (*DocFn)(void *ctx, const char *text, size_t len);

/* ---- messages ---- */

static int data_error(int rc, const char *msg) {
    fprintf(stderr, "gptc data: %s\n", msg);
    return rc;
}

/* Something the user may not have meant, though it is no error. */
static void data_note(const DataOptions *o, const char *msg) {
    if (!o->quiet) fprintf(stderr, "gptc data: note: %s\n", msg);
}

/* Where the user may have forgotten --paragraphs: the advice for a split
 * that has too few documents, or "". */
static const char *paragraphs_hint(const DataOptions *o) {
    return o->paragraphs ? ""
                         : " (without --paragraphs each file is one document; --paragraphs cuts "
                           "files into one per paragraph)";
}

/* ---- options ---- */

/* Returns CLI_GO to go on, else the exit status (0 after --help). */
static int parse_options(int argc, char **argv, DataOptions *o, CliArgs *args) {
    *o = (DataOptions){.name = "data", .val_fraction = DEFAULT_VAL_FRACTION,
                       .shard_tokens = DEFAULT_SHARD_TOKENS};
    const char *tokenizer = "byte";
    bool val_fraction = false;
    const CliOpt opts[] = {
        {"-o", "--output", CLI_STRING, .to.str = &o->outdir, .what = "a directory"},
        {"--name", NULL, CLI_STRING, .to.str = &o->name, .what = "a file name prefix"},
        {"--val-fraction", NULL, CLI_FRACTION, .to.real = &o->val_fraction, .seen = &val_fraction},
        {"--val-docs", NULL, CLI_COUNT64, .to.count64 = &o->val_docs, .lo = 0, .hi = INT64_MAX,
         .seen = &o->by_docs},
        {"--shard-tokens", NULL, CLI_COUNT64, .to.count64 = &o->shard_tokens, .lo = 1, .hi = INT32_MAX},
        {"--paragraphs", NULL, CLI_FLAG, .to.flag = &o->paragraphs},
        {"--tokenizer", NULL, CLI_STRING, .to.str = &tokenizer, .what = "byte or gpt2"},
        {"--vocab", NULL, CLI_STRING, .to.str = &o->vocab, .what = "a file name"},
        {"--quiet", NULL, CLI_FLAG, .to.flag = &o->quiet},
        {0},
    };
    const CliCommand c = {"gptc data", "input files", .many = true, .opts = opts, .help = data_help};
    int rc = cli_parse(&c, argc, argv, args);
    if (rc != CLI_GO) return rc;
    o->inputs = args->args;
    o->ninputs = args->nargs;
    o->gpt2 = !strcmp(tokenizer, "gpt2");
    if (!o->gpt2 && strcmp(tokenizer, "byte")) return cli_bad_value(&c, "--tokenizer", "byte or gpt2", tokenizer);
    if (!*o->name || strchr(o->name, '/'))
        return cli_bad_value(&c, "--name", "a file name prefix without '/'", o->name);
    if (o->by_docs && val_fraction) return cli_usage(&c, "give --val-docs or --val-fraction, not both");
    if (o->vocab && !*o->vocab) return cli_usage(&c, "--vocab needs a file name");
    if (!o->outdir || !*o->outdir) return cli_usage(&c, "no output directory given (-o DIR)");
    if (o->vocab && !o->gpt2) return cli_usage(&c, "--vocab goes with --tokenizer gpt2");
    return CLI_GO;
}

/* Drops the inputs that name a file named before (again, through a link or
 * by another path), so that each file is read once. An input that cannot be
 * stat'ed stays, for read_file to report. Returns 0 or the exit status. */
static int drop_repeated_inputs(DataOptions *o) {
    struct stat *id = malloc(sizeof *id * (size_t)o->ninputs);
    bool *known = malloc(sizeof *known * (size_t)o->ninputs);
    if (!id || !known) {
        free(id);
        free(known);
        return data_error(1, "out of memory");
    }
    int kept = 0;
    for (int f = 0; f < o->ninputs; f++) {
        known[kept] = stat(o->inputs[f], &id[kept]) == 0;
        int same = -1;
        for (int k = 0; known[kept] && k < kept && same < 0; k++)
            if (known[k] && id[k].st_dev == id[kept].st_dev && id[k].st_ino == id[kept].st_ino)
                same = k;
        if (same < 0) {
            o->inputs[kept++] = o->inputs[f];
            continue;
        }
        char m[2 * PATH_MAX + 64];
        if (!strcmp(o->inputs[f], o->inputs[same]))
            snprintf(m, sizeof m, "%s is given again; it is read once", o->inputs[f]);
        else
            snprintf(m, sizeof m, "%s is the same file as %s; it is read once", o->inputs[f],
                     o->inputs[same]);
        data_note(o, m);
    }
    o->ninputs = kept;
    free(id);
    free(known);
    return 0;
}

/* ---- tokenizers ---- */

/* Loads GPT-2's ranks for --tokenizer gpt2; returns 0 or the exit status. */
static int load_vocab(DataOptions *o) {
    if (!o->gpt2) return 0;
    const char *path = o->vocab ? o->vocab : GPT2_VOCAB_PATH;
    char err[PATH_MAX + 256];
    o->bpe = bpe_load(path, err, sizeof err);
    if (!o->bpe) {
        fprintf(stderr, "gptc data: %s\n", err);
        if (!o->vocab && access(path, F_OK) != 0)
            fputs("gptc data: fetch GPT-2's vocabulary with scripts/get-gpt2-vocab.sh, or give "
                  "--vocab PATH\n",
                  stderr);
        return 2;
    }
    /* EOT and the vocabulary size are GPT-2's, so the ranks must be too. */
    if (bpe_ranks(o->bpe) != GPT2_RANKS) {
        fprintf(stderr,
                "gptc data: %s: holds %d ranks where GPT-2's vocabulary has %d; not GPT-2's "
                "ranks file\n",
                path, bpe_ranks(o->bpe), GPT2_RANKS);
        return 2;
    }
    return 0;
}

static int eot_token(const DataOptions *o) { return o->gpt2 ? GPT2_EOT : BYTE_EOT; }
static int vocab_size(const DataOptions *o) { return o->gpt2 ? GPT2_VOCAB : BYTE_VOCAB; }

/* Tokenizes one document as [EOT] + its tokens into d, grown to fit. Returns
 * the token count, or -1 after printing why. */
static int64_t tokenize(const DataOptions *o, DocBuf *d, const char *text, size_t len) {
    size_t body = o->gpt2 ? bpe_max_tokens(text, len) : len;
    if (body >= SIZE_MAX / sizeof *d->t - 1) {
        data_error(1, "out of memory");
        return -1;
    }
    if (body + 1 > d->cap) {
        uint16_t *grown = realloc(d->t, (body + 1) * sizeof *grown);
        if (!grown) {
            data_error(1, "out of memory");
            return -1;
        }
        d->t = grown;
        d->cap = body + 1;
    }
    if (!o->gpt2) return (int64_t)tokenize_document(text, len, d->t);
    size_t n;
    char err[256];
    if (!bpe_encode(o->bpe, text, len, d->t + 1, &n, err, sizeof err)) {
        data_error(1, err);
        return -1;
    }
    d->t[0] = (uint16_t)eot_token(o);
    return (int64_t)n + 1;
}

/* ---- input ---- */

/* Reads a whole file; NULL with a message in err on failure. */
static char *read_file(const char *path, size_t *len, char *err, size_t errcap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errcap, "%s: is a directory, not a text file", path);
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf && n == cap) {
            char *grown = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!grown) free(buf);
            buf = grown;
            cap *= 2;
        }
        if (!buf) {
            snprintf(err, errcap, "%s: out of memory", path);
            break;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

/* Calls fn on every document of every input, in order. Returns 0, 2 for an
 * unreadable input (with a message), or the status fn left in *fn_rc. */
static int each_document(const DataOptions *o, DocFn fn, void *ctx) {
    char err[PATH_MAX + 128];
    for (int f = 0; f < o->ninputs; f++) {
        size_t len;
        char *text = read_file(o->inputs[f], &len, err, sizeof err);
        if (!text) return data_error(2, err);
        bool ok = true;
        if (!o->paragraphs) {
            ok = fn(ctx, text, len);
        } else {
            size_t pos = 0, start, plen;
            while (ok && next_paragraph(text, len, &pos, &start, &plen))
                ok = fn(ctx, text + start, plen);
        }
        free(text);
        if (!ok) return -1;
    }
    return 0;
}

static bool count_document(void *ctx, const char *text, size_t len) {
    Count *c = ctx;
    c->docs++;
    if (!c->o->gpt2) { /* one token a byte: no need to tokenize */
        c->tokens += (int64_t)len + 1;
        return true;
    }
    int64_t n = tokenize(c->o, &c->doc, text, len);
    if (n < 0) c->rc = 1;
    else c->tokens += n;
    return n >= 0;
}

/* ---- output ---- */

/* mkdir -p: makes DIR and any missing parents. */
static bool make_dirs(const char *dir, char *err, size_t errcap) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errcap, "%s: path too long", dir);
        return false;
    }
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        struct stat st;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errcap, "%s: cannot create the output directory: %s", path,
                     strerror(errno));
            return false;
        }
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errcap, "%s: cannot create the output directory: %s", path,
                     "a file of that name is in the way");
            return false;
        }
        *p = c;
        if (!c) return true;
    }
}

static void shard_path(char *out, size_t cap, const DataOptions *o, const char *split, int index) {
    snprintf(out, cap, "%s/%s_%s_%06d.bin", o->outdir, o->name, split, index);
}

static bool write_val(Writer *w) {
    if (w->nval == 0) return true; /* no val share asked for */
    char path[PATH_MAX], err[PATH_MAX + 128];
    shard_path(path, sizeof path, w->o, "val", 0);
    if (shard_write(path, w->val, w->nval, err, sizeof err)) return true;
    w->rc = data_error(1, err);
    return false;
}

static bool flush_train(Writer *w) {
    if (w->nbuf == 0) return true;
    if (w->next_shard > MAX_SHARD_INDEX) {
        w->rc = data_error(2, "more than 999999 train shards; raise --shard-tokens");
        return false;
    }
    char path[PATH_MAX], err[PATH_MAX + 128];
    shard_path(path, sizeof path, w->o, "train", w->next_shard);
    if (!shard_write(path, w->buf, w->nbuf, err, sizeof err)) {
        w->rc = data_error(1, err);
        return false;
    }
    w->next_shard++;
    w->nbuf = 0;
    return true;
}

/* Grows *buf to hold `need` tokens, at most `limit`. */
static bool reserve(uint16_t **buf, int64_t *cap, int64_t need, int64_t limit) {
    if (need <= *cap) return true;
    int64_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    if (c > limit) c = limit;
    uint16_t *grown = realloc(*buf, (size_t)c * sizeof **buf);
    if (!grown) return false;
    *buf = grown;
    *cap = c;
    return true;
}

static bool add_to_val(Writer *w, const uint16_t *t, int64_t n) {
    int64_t limit = w->o->shard_tokens;
    if (w->nval + n > limit) {
        char m[256];
        snprintf(m, sizeof m,
                 "the val share needs more than --shard-tokens %" PRId64 " tokens; lower "
                 "--val-fraction or --val-docs, or raise --shard-tokens",
                 limit);
        w->rc = data_error(2, m);
        return false;
    }
    if (!reserve(&w->val, &w->val_cap, w->nval + n, limit)) {
        w->rc = data_error(1, "out of memory");
        return false;
    }
    memcpy(w->val + w->nval, t, (size_t)n * sizeof *t);
    w->nval += n;
    w->val_ndocs++;
    return true;
}

/* Appends to the train stream, writing a shard each time one fills up: a
 * document may continue in the next shard. */
static bool add_to_train(Writer *w, const uint16_t *t, int64_t n) {
    int64_t limit = w->o->shard_tokens;
    int64_t expected = w->total_tokens - w->nval; /* sizes the buffer for small corpora */
    while (n > 0) {
        if (w->nbuf == limit && !flush_train(w)) return false;
        int64_t want = w->nbuf + n < limit ? w->nbuf + n : limit;
        if (want < expected && expected <= limit) want = expected;
        if (!reserve(&w->buf, &w->buf_cap, want, limit)) {
            w->rc = data_error(1, "out of memory");
            return false;
        }
        int64_t k = w->buf_cap - w->nbuf < n ? w->buf_cap - w->nbuf : n;
        memcpy(w->buf + w->nbuf, t, (size_t)k * sizeof *t);
        w->nbuf += k;
        w->train_tokens += k;
        t += k;
        n -= k;
    }
    return true;
}

static bool wants_val(const Writer *w) {
    if (w->in_train) return false;
    if (w->o->by_docs) return w->val_ndocs < w->o->val_docs;
    return w->nval < w->val_target;
}

static bool write_document(void *ctx, const char *text, size_t len) {
    Writer *w = ctx;
    bool val = wants_val(w);
    TextKey key = {{0}};
    if (val || w->val_texts.n) key = text_key(text, len); /* no val share: nothing to compare */
    if (!val && textset_has(&w->val_texts, key)) {
        w->dropped++;
        return true;
    }
    int64_t n = tokenize(w->o, &w->doc, text, len);
    if (n < 0) {
        w->rc = 1;
        return false;
    }
    if (val) {
        if (textset_add(&w->val_texts, key)) return add_to_val(w, w->doc.t, n);
        w->rc = data_error(1, "out of memory");
        return false;
    }
    if (!w->in_train) {
        w->in_train = true;
        if (!write_val(w)) return false;
    }
    w->train_docs++;
    return add_to_train(w, w->doc.t, n);
}

/* Removes NAME_train_K.bin for K = from, from + 1, ... while they exist:
 * shards of an earlier, longer run that the train glob would still match. */
static int remove_stale(const DataOptions *o, const char *split, int from) {
    int removed = 0;
    char path[PATH_MAX];
    for (int k = from; k <= MAX_SHARD_INDEX; k++) {
        shard_path(path, sizeof path, o, split, k);
        if (unlink(path) != 0) break;
        removed++;
    }
    return removed;
}

/* ---- the command ---- */

static const char *plural(int64_t n) { return n == 1 ? "" : "s"; }

static void print_summary(const DataOptions *o, const Count *c, const Writer *w, int stale) {
    char first[PATH_MAX], last[PATH_MAX];
    printf("gptc data: %" PRId64 " document%s, %" PRId64 " tokens (%s + EOT, vocabulary %d)\n",
           c->docs, plural(c->docs), c->tokens, o->gpt2 ? "GPT-2 BPE" : "bytes", vocab_size(o));
    if (w->nval) {
        shard_path(first, sizeof first, o, "val", 0);
        printf("  val:   %" PRId64 " document%s, %" PRId64 " tokens in 1 shard: %s\n",
               w->val_ndocs, plural(w->val_ndocs), w->nval, first);
    } else {
        printf("  val:   none (no val share asked for)\n");
    }
    int nshards = w->next_shard - 1;
    shard_path(first, sizeof first, o, "train", 1);
    shard_path(last, sizeof last, o, "train", nshards);
    printf("  train: %" PRId64 " document%s, %" PRId64 " tokens in %d shard%s: %s%s%s\n",
           w->train_docs, plural(w->train_docs), w->train_tokens, nshards, plural(nshards), first,
           nshards > 1 ? " .. " : "", nshards > 1 ? strrchr(last, '/') + 1 : "");
    if (w->dropped)
        printf("  dropped %" PRId64 " train document%s whose text the val shard holds\n",
               w->dropped, plural(w->dropped));
    if (stale) printf("  removed %d stale shard%s of an earlier run\n", stale, plural(stale));
}

/* The checks that need the first pass's totals. */
static int check_split(const DataOptions *o, const Count *c) {
    char m[512];
    if (c->docs == 0) return data_error(2, "the input holds no documents (only blank lines?)");
    if (o->by_docs && o->val_docs >= c->docs) {
        snprintf(m, sizeof m,
                 "--val-docs %" PRId64 " leaves nothing to train on: the input holds %" PRId64
                 " document%s%s",
                 o->val_docs, c->docs, plural(c->docs), paragraphs_hint(o));
        return data_error(2, m);
    }
    /* The val share takes whole documents, so one document cannot be split. */
    if (!o->by_docs && o->val_fraction > 0 && c->docs == 1) {
        snprintf(m, sizeof m,
                 "the input is one document%s, so the val share (--val-fraction %g) leaves "
                 "nothing to train on; %sgive --val-fraction 0 for no validation",
                 o->paragraphs ? "" : " (without --paragraphs each file is one)",
                 o->val_fraction,
                 o->paragraphs ? "" : "add --paragraphs to cut it into one per paragraph, or ");
        return data_error(2, m);
    }
    if (c->docs == 1 && !o->paragraphs)
        data_note(o, "the input is one document: without --paragraphs each file is one; "
                     "--paragraphs would cut it into one per paragraph");
    return 0;
}

/* The second pass and the last shard; returns the exit status. */
static int write_shards(const DataOptions *o, const Count *c, Writer *w) {
    int rc = each_document(o, write_document, w);
    if (rc) return rc > 0 ? rc : w->rc;
    if (!w->in_train && w->dropped) {
        return data_error(2, "every document after the val share has the text of one in it; "
                             "nothing is left to train on");
    }
    if (!w->in_train) {
        char m[512];
        snprintf(m, sizeof m, "the val share takes every document; nothing is left to train on%s",
                 paragraphs_hint(o));
        return data_error(2, m);
    }
    if (!flush_train(w)) return w->rc;
    int stale = remove_stale(o, "train", w->next_shard) + (w->nval ? 0 : remove_stale(o, "val", 0));
    if (!o->quiet) print_summary(o, c, w, stale);
    return 0;
}

static int run(const DataOptions *o) {
    Count c = {.o = o};
    int rc = each_document(o, count_document, &c);
    free(c.doc.t);
    if (rc) return rc > 0 ? rc : c.rc;
    if ((rc = check_split(o, &c))) return rc;
    char err[PATH_MAX + 128];
    if (!make_dirs(o->outdir, err, sizeof err)) return data_error(2, err);
    Writer w = {.o = o, .total_tokens = c.tokens, .next_shard = 1};
    w.val_target = o->by_docs ? 0 : (int64_t)ceil(o->val_fraction * (double)c.tokens);
    rc = write_shards(o, &c, &w);
    textset_free(&w.val_texts);
    free(w.doc.t);
    free(w.val);
    free(w.buf);
    return rc;
}

int cmd_data(int argc, char **argv) {
    DataOptions o;
    CliArgs args;
    int rc = parse_options(argc, argv, &o, &args);
    if (rc == CLI_GO && !(rc = drop_repeated_inputs(&o)) && !(rc = load_vocab(&o))) rc = run(&o);
    bpe_free(o.bpe);
    cli_free(&args);
    fflush(stdout);
    return rc;
}
