/*
 * spec.h: the ModelSpec, the fully resolved description of one model and
 * its training run.
 *
 * A ModelSpec is produced only by spec_load() (validate.c) from a YAML file,
 * its `extends` chain and the command line's --set overrides. Every field is
 * filled (defaults applied, derived values computed) and every rule in
 * models/README.md has been checked, so later stages (report, lowering,
 * the executors) never re-validate and never see YAML. It holds no pointers:
 * it can be copied, compared with memcmp and written into a checkpoint.
 *
 * A new field must also be listed in runtime/train/ckpt_spec.c, which checks the
 * bytes of a ModelSpec read back from a checkpoint field by field.
 *
 * Only numbers and enums are meant to reach generated code. The strings it
 * holds (source path, description, data globs) are for display and for the
 * runtime's file I/O; emitters must never paste them into source.
 */
#ifndef GPTC_SPEC_H
#define GPTC_SPEC_H

#include <stdbool.h>
#include <stdint.h>

/* Hard bounds. They keep every size computation far from overflow in 64-bit
 * integers and every per-layer array in the struct of fixed size. */
#define SPEC_MAX_LAYERS 256
#define SPEC_MAX_TABLES 16   /* input (x0) tables, and value-embedding tables */
#define SPEC_MAX_NS_STEPS 16 /* Newton-Schulz iterations */
#define SPEC_PATH_MAX 1024
#define SPEC_TEXT_MAX 256

typedef enum { ACT_RELU2 } Activation;
typedef enum { ATTN_NORM_QKV, ATTN_NORM_PRE } AttnNorm;
typedef enum { ROTARY_HALF, ROTARY_INTERLEAVED } RotaryConvention;
typedef enum { WINDOW_CUBIC, WINDOW_LINEAR, WINDOW_CONSTANT } WindowSchedule;
typedef enum { SOFTCAP_ISRU, SOFTCAP_SIGMOID, SOFTCAP_NONE } SoftcapKind;
typedef enum { INIT_NORMAL, INIT_ZEROS } TensorInit;
typedef enum { DTYPE_BF16, DTYPE_FP32 } DType;
typedef enum { MASTER_SPLIT16, MASTER_FP32 } MuonMaster;
typedef enum { NAMING_RECORD, NAMING_ABLATION } TableNaming;

typedef struct {
    int size;           /* tokens in the vocabulary */
    int eot;            /* end-of-text id; it opens every document */
    int pad_multiple;   /* the head (and padded embeddings) round up to this */
    bool pad_embeddings;
    int padded;         /* derived: size rounded up to pad_multiple */
} SpecVocab;

typedef struct {
    int layers, dim, heads, head_dim, mlp_hidden;
    Activation activation;
    bool attention[SPEC_MAX_LAYERS]; /* derived from attention.off_layers */
} SpecModel;

typedef struct {
    int block_size;       /* tokens per mask block */
    WindowSchedule schedule;
    int max_tokens;       /* long window at the end of the schedule */
    int short_max_blocks; /* cap on the short window, 0 = no cap */
    int val_blocks;       /* long window used by validation, 0 = as training */
    bool long_layer[SPEC_MAX_LAYERS];
} SpecWindow;

typedef struct {
    AttnNorm norm;
    double scale;
    double rotary_base;
    int rotary_pairs;     /* frequency pairs that rotate; the rest stay still */
    RotaryConvention rotary_convention;
    SpecWindow window;
} SpecAttention;

typedef struct {
    int tables;
    int layer_table[SPEC_MAX_LAYERS]; /* table index per layer, -1 for none */
    TensorInit init;
    double init_std;
    double lambda_v, lambda_ve;       /* init of the per-layer (sa_v, sa_ve) */
} SpecValueEmbeddings;

typedef struct {
    int tables;                       /* x00 plus the extra x01..x0K */
    TableNaming naming;               /* export names of the tables */
    double init_std;
    double lambda_x, lambda_x0, lambda_x0_extra; /* init of the block mix */
} SpecInputEmbeddings;

typedef struct {
    int count;
    int from[SPEC_MAX_LAYERS], to[SPEC_MAX_LAYERS];
    double init;
} SpecSkips;

typedef struct {
    bool tied;
    SoftcapKind softcap;
    double cap, divisor, offset;
    TensorInit init;
    double init_std;
} SpecHead;

typedef struct {
    double linear_std_scale; /* std = scale * fan_in^-1/2, uniform */
    bool zero_out_proj;      /* Wo and the MLP projection start at zero */
} SpecInit;

typedef struct {
    DType matrices, embeddings, head, scalars;
    MuonMaster muon_master;
} SpecDtypes;

typedef struct {
    double lr, weight_decay, attn_wd_mul, mlp_wd_mul;
    double momentum_start, momentum_end;
    int momentum_warmup_steps;
    bool nesterov;
    int ns_steps;
    double ns_coef[SPEC_MAX_NS_STEPS][3]; /* (a, b, c) per iteration */
} SpecMuon;

typedef struct {
    double beta1, beta2, eps, weight_decay;
    double lr_head, lr_embed, lr_scalars;
} SpecAdam;

typedef struct {
    int ranks;
    int64_t tokens_per_rank;
    int steps;
    uint64_t seed;
    double cooldown_frac, lr_floor;
    SpecMuon muon;
    SpecAdam adam;
    int val_interval;
    int64_t val_tokens, val_tokens_per_rank;
    char train_glob[SPEC_PATH_MAX], val_glob[SPEC_PATH_MAX];
    uint64_t data_seed; /* 0: the recipe's order; else batches shuffled within each shard */
    bool data_repeat;   /* start the training data again at its end */
} SpecTrain;

typedef struct {
    char source[SPEC_PATH_MAX];      /* the file given on the command line */
    char description[SPEC_TEXT_MAX]; /* free text, display only */
    SpecVocab vocab;
    SpecModel model;
    SpecAttention attn;
    SpecValueEmbeddings ve;
    SpecInputEmbeddings x0;
    SpecSkips skips;
    SpecHead head;
    SpecInit init;
    SpecDtypes dtypes;
    SpecTrain train;
} ModelSpec;

/* Window sizes in blocks at a training step, as the recipe's schedule gives
 * them (docs/recipe.md, 'Window schedule'). `validation` applies val_blocks. */
void spec_window_blocks(const ModelSpec *s, int step, bool validation,
                        int *long_blocks, int *short_blocks);

/* The learning-rate multiplier at a step: flat, then a linear cooldown. */
double spec_lr_mult(const ModelSpec *s, int step);

/* Muon momentum at a step, with its linear warm-up. */
double spec_muon_momentum(const ModelSpec *s, int step);

/* Length of the fp32 `scalars` vector: skip weights [L], block lambdas
 * [L x (tables+1)], attention lambdas [L x 2], in that order. */
int spec_scalars_len(const ModelSpec *s);

/* Where each scalar lives in that vector: the skip weight of source layer
 * `from`; the block lambda j of a layer (j = 0 for x, 1 + k for x0k); the
 * attention lambda j of a layer (0: sa_v, 1: sa_ve). */
int spec_skip_index(const ModelSpec *s, int from);
int spec_lambda_index(const ModelSpec *s, int layer, int j);
int spec_sa_index(const ModelSpec *s, int layer, int j);

const char *spec_dtype_name(DType d);

#endif
