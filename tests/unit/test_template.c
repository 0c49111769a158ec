/*
 * test_template.c: the template engine (template.c), the templates built
 * into the binary (scripts/embed.c) and the emitter (emit.c).
 *
 * Engine: values of each kind render as single tokens (floats exactly, with
 * %.9g and an 'f'; negatives parenthesised); an unfilled placeholder, a value
 * the template does not have, and every kind of malformed brace are errors
 * naming template:line:column; bad setter calls stick and fail the render.
 * Templates: each family file is built in, opens with its contract, and
 * renders. Emitter: kernel names and constants from the ModelSpec, vector
 * widths that divide the rows, byte-identical output for the same model,
 * and a header that no model path can break out of.
 */
#include "compiler/codegen/emit.h"
#include "compiler/codegen/template.h"
#include "tests/unit/test.h"

/* Renders `text` with `a`; returns the output (static) or NULL, with the
 * error in err. */
static const char *render(const char *text, TplArgs *a, char *err, size_t errlen) {
    static char out[4096];
    StrBuf b = {0};
    err[0] = '\0';
    bool ok = tpl_render("t.cu", text, a, &b, err, errlen);
    snprintf(out, sizeof out, "%s", sb_str(&b));
    sb_free(&b);
    return ok ? out : NULL;
}

static bool renders_to(const char *text, TplArgs *a, const char *want) {
    char err[512];
    const char *got = render(text, a, err, sizeof err);
    if (got && !strcmp(got, want)) return true;
    fprintf(stderr, "  rendered '%s', wanted '%s' (%s)\n", got ? got : "(failed)", want, err);
    return false;
}

/* True when rendering fails with exactly the message `want`. */
static bool fails_with(const char *text, TplArgs *a, const char *want) {
    char err[512];
    if (render(text, a, err, sizeof err)) {
        fprintf(stderr, "  '%s' rendered, expected: %s\n", text, want);
        return false;
    }
    if (!strcmp(err, want)) return true;
    fprintf(stderr, "  got:    %s\n  wanted: %s\n", err, want);
    return false;
}

TEST(template_renders_ints_idents_and_repeats) {
    TplArgs a;
    tpl_args_init(&a);
    tpl_set_int(&a, "WIDTH", 1024);
    tpl_set_int(&a, "NEG", -3);
    tpl_set_ident(&a, "SUFFIX", "t2_d1024");
    CHECK(
        renders_to("k_{{SUFFIX}}(x[{{WIDTH}}], {{NEG}}) {{WIDTH}}", &a, "k_t2_d1024(x[1024], (-3)) 1024"));
    TplArgs b; /* single braces, and double ones split by a space, are plain text */
    tpl_args_init(&b);
    tpl_set_ident(&b, "SUFFIX", "v4");
    CHECK(renders_to("{ {WIDTH} } } { { {{SUFFIX}}", &b, "{ {WIDTH} } } { { v4"));
}

TEST(template_floats_are_exact_single_tokens) {
    struct {
        double v;
        const char *want;
    } cases[] = {
        {0.5, "0.5f"},
        {1, "1.0f"},
        {-0.25, "(-0.25f)"},
        {0.1, "0.100000001f"},
        {1e20, "1.00000002e+20f"},
        {-0.0, "(-0.0f)"},
        {3e-45, "2.80259693e-45f"},
        {65504, "65504.0f"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TplArgs a;
        tpl_args_init(&a);
        tpl_set_float(&a, "X", cases[i].v);
        CHECK(renders_to("{{X}}", &a, cases[i].want));
    }
}

TEST(template_refuses_non_finite_floats) {
    double bad[] = {1.0 / 0.0, -1.0 / 0.0, 0.0 / 0.0, 1e39};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TplArgs a;
        tpl_args_init(&a);
        tpl_set_float(&a, "X", bad[i]);
        char err[512];
        CHECK(!render("{{X}}", &a, err, sizeof err));
        CHECK(strstr(err, "templates/t.cu: error: {{X}}: ") && strstr(err, "is not a finite float"));
    }
}

TEST(template_unfilled_placeholder_is_an_error) {
    TplArgs a;
    tpl_args_init(&a);
    tpl_set_int(&a, "A", 1);
    CHECK(fails_with("a = {{A}};\nb = {{B}};\n", &a,
                     "templates/t.cu:2:5: error: placeholder {{B}} has no value"));
}

TEST(template_unknown_value_is_an_error) {
    TplArgs a;
    tpl_args_init(&a);
    tpl_set_int(&a, "A", 1);
    tpl_set_int(&a, "STALE", 2);
    CHECK(fails_with(
        "a = {{A}};", &a,
        "templates/t.cu: error: a value was given for {{STALE}}, which the template does not have"));
}

TEST(template_malformed_braces_are_errors) {
    const char *malformed =
        "malformed placeholder: '{{' must be followed by NAME'}}', NAME in [A-Z][A-Z0-9_]*";
    struct {
        const char *text;
        const char *at;
    } cases[] = {
        {"x {{a}}", "1:3"}, {"x\n  {{A", "2:3"}, {"{{ A}}", "1:1"},  {"{{A}", "1:1"},
        {"{{{A}}", "1:1"},  {"{{}}", "1:1"},     {"{{A-B}}", "1:1"}, {"{{9A}}", "1:1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TplArgs a;
        tpl_args_init(&a);
        tpl_set_int(&a, "A", 1);
        char want[256];
        snprintf(want, sizeof want, "templates/t.cu:%s: error: %s", cases[i].at, malformed);
        CHECK(fails_with(cases[i].text, &a, want));
    }
    TplArgs a;
    tpl_args_init(&a);
    CHECK(fails_with("if (x) { y(); }}\n", &a, "templates/t.cu:1:15: error: '}}' closes no placeholder"));
    CHECK(fails_with("a\n}} {{A}}", &a, "templates/t.cu:2:1: error: '}}' closes no placeholder"));
}

TEST(template_bad_setter_calls_fail_the_render) {
    struct {
        const char *name, *value, *want;
    } cases[] = {
        {"lower", NULL, "bad placeholder name 'lower'"},
        {"", NULL, "bad placeholder name ''"},
        {"A", "x-y", "{{A}}: 'x-y' is not an identifier fragment [a-z0-9_]"},
        {"A", "", "{{A}}: '' is not an identifier fragment [a-z0-9_]"},
        {"A", "Kernel", "{{A}}: 'Kernel' is not an identifier fragment [a-z0-9_]"},
        {"A", "a */ b", "{{A}}: 'a */ b' is not an identifier fragment [a-z0-9_]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TplArgs a;
        tpl_args_init(&a);
        if (cases[i].value) tpl_set_ident(&a, cases[i].name, cases[i].value);
        else tpl_set_int(&a, cases[i].name, 1);
        tpl_set_int(&a, "B", 2); /* a later good value does not clear the error */
        char want[256];
        snprintf(want, sizeof want, "templates/t.cu: error: %s", cases[i].want);
        CHECK(fails_with("{{B}}", &a, want));
    }
    TplArgs a;
    tpl_args_init(&a);
    tpl_set_int(&a, "A", 1);
    tpl_set_int(&a, "A", 2);
    CHECK(fails_with("{{A}}", &a, "templates/t.cu: error: {{A}} given twice"));
}

/* ---- the built-in templates ---- */

TEST(template_files_are_built_in_with_contracts) {
    const char *families[] = {"x0_mix.cu", "relu2.cu", "adam.cu"};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        const TplFile *f = tpl_find(families[i]);
        CHECK(f != NULL);
        if (!f) continue;
        CHECK(f->len == strlen(f->text));
        CHECK(!strncmp(f->text, "/*\n", 3));
        const char *contract[] = {"Launch", "Determinism", "Placeholders", "extern \"C\" __global__"};
        for (size_t k = 0; k < sizeof contract / sizeof contract[0]; k++)
            CHECK(strstr(f->text, contract[k]));
    }
    const TplFile *vec = tpl_find("vec.cuh");
    CHECK(vec && !strstr(vec->text, "{{"));
    CHECK(tpl_find("missing.cu") == NULL);
}

/* ---- the emitter ---- */

static void spec(ModelSpec *s, int dim, int tables, int hidden) {
    memset(s, 0, sizeof *s);
    s->model.dim = dim;
    s->model.heads = 8;
    s->model.head_dim = dim / 8;
    s->model.mlp_hidden = hidden;
    s->model.activation = ACT_RELU2;
    s->x0.tables = tables;
}

static long long const_of(const EmitInstance *in, const char *name) {
    for (int i = 0; i < in->nconsts; i++)
        if (!strcmp(in->consts[i].name, name)) return in->consts[i].value;
    return -1;
}

TEST(emit_plans_the_model_kernels) {
    ModelSpec s;
    spec(&s, 1024, 2, 4096);
    KernelSet p;
    emit_kernel_set(&s, &p);
    CHECK_EQ_INT(p.n, 11);
    CHECK(!strcmp(p.inst[10].kernels[0].name, "embed_fwd_d1024"));
    CHECK(!strcmp(p.inst[0].kernels[0].name, "x0_mix_fwd_t2_d1024"));
    CHECK_EQ_INT(p.inst[0].nkernels, 1); /* its backward is x0_lambda_grad's */
    CHECK(!strcmp(p.inst[1].kernels[0].name, "relu2_fwd_m4096"));
    CHECK(!strcmp(p.inst[1].kernels[1].name, "relu2_bwd_m4096"));
    CHECK(!strcmp(p.inst[2].kernels[0].name, "adam_fp32_v4"));
    CHECK_EQ_INT(const_of(&p.inst[0], "TABLES"), 2);
    CHECK_EQ_INT(const_of(&p.inst[0], "WIDTH"), 1024);
    CHECK_EQ_INT(const_of(&p.inst[0], "VEC"), 8);
    CHECK_EQ_INT(const_of(&p.inst[1], "WIDTH"), 4096);
    CHECK_EQ_INT(const_of(&p.inst[2], "THREADS"), EMIT_THREADS);
    /* Muon: 1024 x 4096 matrices in vectors of 4 give 512 groups of 2048, capped at 256 partials. */
    CHECK(!strcmp(p.inst[8].kernels[0].name, "muon_momentum_n0_p256_v4"));
    CHECK_EQ_INT(p.inst[8].grid_blocks, 256);
    CHECK(!strcmp(p.inst[9].kernels[3].name, "cast_bf16_v4"));
}

/* The plan's instance of a family, or NULL. */
static const EmitInstance *family(const KernelSet *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->inst[i].family, name)) return &p->inst[i];
    return NULL;
}

/* q/k/v and attention only with an attention layer, the skip kernels only
 * with a skip; their constants from the spec. */
TEST(emit_plans_qkv_and_skips_from_the_spec) {
    ModelSpec s;
    spec(&s, 1024, 1, 4096);
    s.train.tokens_per_rank = 65536;
    s.attn.rotary_pairs = 32;
    s.attn.rotary_convention = ROTARY_INTERLEAVED;
    s.attn.norm = ATTN_NORM_PRE;
    s.model.layers = 2;
    s.model.attention[1] = true;
    s.skips.count = 1;
    KernelSet p;
    emit_kernel_set(&s, &p);
    const EmitInstance *q = family(&p, "qkv"), *xs = family(&p, "x0_skip"), *sk = family(&p, "skip");
    CHECK(q && xs && sk && family(&p, "attention"));
    if (!q || !xs || !sk) return;
    CHECK(!strcmp(q->kernels[0].name, "qkv_fwd_h8_d128_r32i_p512"));
    CHECK_EQ_INT(const_of(q, "HEAD_DIM"), 128);
    CHECK_EQ_INT(const_of(q, "PAIRS"), 32);
    CHECK_EQ_INT(const_of(q, "INTERLEAVED"), 1);
    CHECK_EQ_INT(const_of(q, "VNORM"), 0);
    CHECK_EQ_INT(q->grid_blocks, 512);
    CHECK(!strcmp(xs->kernels[0].name, "x0_skip_fwd_t1_d1024"));
    CHECK(!strcmp(sk->kernels[0].name, "skip_bwd_d1024_p256"));
    int with = p.n;
    s.model.attention[1] = false;
    s.skips.count = 0;
    emit_kernel_set(&s, &p);
    CHECK(!family(&p, "qkv") && !family(&p, "attention") && !family(&p, "x0_skip") && !family(&p, "skip"));
    CHECK_EQ_INT(p.n, with - 4);
}

TEST(emit_vector_width_divides_the_row) {
    int widths[][2] = {{128, 8}, {100, 4}, {6, 2}, {13, 1}, {24, 8}};
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        ModelSpec s;
        spec(&s, widths[i][0], 1, widths[i][0]);
        KernelSet p;
        emit_kernel_set(&s, &p);
        CHECK_EQ_INT(p.inst[0].vec, widths[i][1]);
        CHECK_EQ_INT(p.inst[1].vec, widths[i][1]);
    }
}

/* kernels.cu's code, then kernels.h, into two buffers. */
static bool emit_all(const ModelSpec *s, StrBuf *code, StrBuf *plan) {
    KernelSet p;
    emit_kernel_set(s, &p);
    char err[512];
    bool ok = emit_kernels(&p, code, err, sizeof err);
    if (!ok) fprintf(stderr, "  %s\n", err);
    emit_kernels_h(&p, "/* plan */\n", "00", plan);
    return ok;
}

TEST(emit_is_deterministic_and_complete) {
    ModelSpec s;
    spec(&s, 96, 5, 390);
    StrBuf code[2] = {{0}}, plan[2] = {{0}};
    CHECK(emit_all(&s, &code[0], &plan[0]));
    CHECK(emit_all(&s, &code[1], &plan[1]));
    CHECK(code[0].len == code[1].len && !memcmp(sb_str(&code[0]), sb_str(&code[1]), code[0].len));
    CHECK(plan[0].len == plan[1].len && !memcmp(sb_str(&plan[0]), sb_str(&plan[1]), plan[0].len));
    CHECK(!strstr(sb_str(&code[0]), "{{") && !strstr(sb_str(&code[0]), "}}"));
    CHECK(strstr(sb_str(&code[0]), "x0_mix_fwd_t5_d96(__nv_bfloat16 *xm,"));
    CHECK(strstr(sb_str(&code[0]), "relu2_bwd_m390(__nv_bfloat16 *dpre,"));
    CHECK(strstr(sb_str(&plan[0]), "{\"relu2_fwd_m390\", \"relu2\","));
    CHECK(strstr(sb_str(&plan[0]),
                 "256, 2, 390, 0, 3, {{\"WIDTH\", 390}, {\"VEC\", 2}, {\"THREADS\", 256}}}"));
    CHECK(strstr(sb_str(&plan[0]), "#define GPTC_KERNELS_KERNEL_COUNT 18\n"));
    for (int i = 0; i < 2; i++) sb_free(&code[i]), sb_free(&plan[i]);
}

TEST(emit_header_cannot_be_broken_by_the_path) {
    StrBuf h = {0};
    emit_header("1.0", "/odd dir/x*/b*/ c\n.yaml", "what", &h);
    CHECK(!strcmp(sb_str(&h), "/* Generated by gptc 1.0 from _c_.yaml: do not edit.\n * what */\n"));
    sb_free(&h);
    emit_header("1.0", "models/we ird*$.yaml", "what", &h);
    CHECK(!strcmp(sb_str(&h), "/* Generated by gptc 1.0 from we_ird__.yaml: do not edit.\n * what */\n"));
    sb_free(&h);
    emit_header("1.0", "models/tiny.yaml", "w", &h);
    CHECK(!strcmp(sb_str(&h), "/* Generated by gptc 1.0 from tiny.yaml: do not edit.\n * w */\n"));
    sb_free(&h);
}
