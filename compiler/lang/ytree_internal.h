/*
 * ytree_internal.h: the arena and node helpers shared by ytree.c (parsing)
 * and compose.c (extends and --set). Not part of the loader's public API.
 */
#ifndef GPTC_YTREE_INTERNAL_H
#define GPTC_YTREE_INTERNAL_H

#include "compiler/lang/ytree.h"

#define YTREE_MAX_MAP_KEYS 4096

YArena *arena_new(void);
void *arena_alloc(YArena *a, size_t n);
char *arena_strndup(YArena *a, const char *s, size_t n);
YNode *ynode_new(YArena *a, YNodeKind kind, SrcLoc at);
YNode *ynode_copy(YArena *a, const YNode *src, SrcLoc at);
YNode *ytree_parse_into(YArena *arena, const char *name, const char *text,
                       size_t len, int col_offset);

#endif
