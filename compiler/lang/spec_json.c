/*
 * spec_json.c: ModelSpec -> JSON, walking the key table (schema.c) so that
 * every key appears and none is forgotten when the table grows. Scalars
 * are read back through the table's offsets; the list keys are printed from
 * the fields they resolve into.
 */
#include "compiler/lang/spec_json.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/json.h"
#include "compiler/lang/schema.h"

static const void *field(const ModelSpec *s, const KeyDef *k) {
    return (const char *)s + k->offset;
}

/* The enum's choice name: the index-th '|'-separated word of `choices`. */
static void print_choice(FILE *f, const char *choices, int index) {
    const char *c = choices;
    for (int i = 0; i < index && strchr(c, '|'); i++) c = strchr(c, '|') + 1;
    fprintf(f, "\"%.*s\"", (int)strcspn(c, "|"), c);
}

static void print_layer_set(FILE *f, const ModelSpec *s, const bool *mark, bool want) {
    const char *sep = "";
    fputc('[', f);
    for (int i = 0; i < s->model.layers; i++) {
        if (mark[i] != want) continue;
        fprintf(f, "%s%d", sep, i);
        sep = ", ";
    }
    fputc(']', f);
}

static void print_list(FILE *f, const ModelSpec *s, const KeyDef *k) {
    if (!strcmp(k->path, "attention.off_layers")) {
        print_layer_set(f, s, s->model.attention, false);
    } else if (!strcmp(k->path, "attention.window.long_layers")) {
        print_layer_set(f, s, s->attn.window.long_layer, true);
    } else if (!strcmp(k->path, "value_embeddings.layers")) {
        fputc('[', f);
        for (int i = 0; i < s->model.layers; i++) {
            if (s->ve.layer_table[i] < 0) fprintf(f, "%snull", i ? ", " : "");
            else fprintf(f, "%s%d", i ? ", " : "", s->ve.layer_table[i]);
        }
        fputc(']', f);
    } else if (!strcmp(k->path, "skips.pairs")) {
        fputc('[', f);
        for (int i = 0; i < s->skips.count; i++)
            fprintf(f, "%s[%d, %d]", i ? ", " : "", s->skips.from[i], s->skips.to[i]);
        fputc(']', f);
    } else {
        fputc('[', f);
        for (int i = 0; i < s->train.muon.ns_steps; i++) {
            fprintf(f, "%s[", i ? ", " : "");
            for (int j = 0; j < 3; j++) {
                if (j) fputs(", ", f);
                json_num(f, s->train.muon.ns_coef[i][j]);
            }
            fputc(']', f);
        }
        fputc(']', f);
    }
}

static void print_value(FILE *f, const ModelSpec *s, const KeyDef *k) {
    const void *p = field(s, k);
    switch (k->type) {
    case KEY_INT: fprintf(f, "%d", *(const int *)p); break;
    case KEY_INT64: fprintf(f, "%" PRId64, *(const int64_t *)p); break;
    case KEY_FLOAT: fprintf(f, "%.17g", *(const double *)p); break;
    case KEY_BOOL: fputs(*(const bool *)p ? "true" : "false", f); break;
    case KEY_ENUM: print_choice(f, k->choices, *(const int *)p); break;
    case KEY_STRING: json_str(f, (const char *)p, k->size); break;
    default: print_list(f, s, k); break;
    }
}

/* One key's value as spec_json prints it, as a new string. */
static char *value_text(const ModelSpec *s, const KeyDef *k) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    print_value(f, s, k);
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}

int spec_diff(const ModelSpec *old, const ModelSpec *now, SpecDiffFn *each, void *ctx) {
    int n = 0;
    for (int i = 0; i < schema_nkeys && n >= 0; i++) {
        char *a = value_text(old, &schema_keys[i]), *b = value_text(now, &schema_keys[i]);
        if (!a || !b) n = -1;
        else if (strcmp(a, b)) {
            each(ctx, schema_keys[i].path, a, b);
            n++;
        }
        free(a);
        free(b);
    }
    return n;
}

void spec_json(FILE *f, const ModelSpec *s, bool pretty) {
    const char *sep = pretty ? "\n    " : " ";
    fputs("{", f);
    for (int i = 0; i < schema_nkeys; i++) {
        fprintf(f, "%s%s\"%s\": ", i ? "," : "", i || pretty ? sep : "", schema_keys[i].path);
        print_value(f, s, &schema_keys[i]);
    }
    fprintf(f, ",%s\"vocab.padded\": %d,%s\"scalars.length\": %d%s}", sep, s->vocab.padded, sep,
            spec_scalars_len(s), pretty ? "\n  " : "");
}
