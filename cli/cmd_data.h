/*
 * cmd_data.h: `gptc data`, which turns text files into token shards for the
 * byte-level models: documents are tokenized with tokenize.h, the first ones
 * fill the val shard NAME_val_000000.bin, the rest stream into train shards
 * NAME_train_000001.bin, ... (the recipe's layout, docs/recipe.md, 'Data').
 * `gptc data --help` has the details.
 */
#ifndef GPTC_CMD_DATA_H
#define GPTC_CMD_DATA_H

/* argv holds the arguments after "data". Returns the exit status: 0 done,
 * 2 bad usage, an unreadable input or an output directory that cannot be
 * made, 1 a shard that could not be written. */
int cmd_data(int argc, char **argv);

#endif
