/*
 * version.h: which gptc this is: the release and the git commit it was
 * built from (build/gen/buildinfo.c, written by scripts/buildinfo.sh at
 * every build; "unknown" outside a git checkout, "-dirty" with
 * uncommitted changes). Run records and reports carry both, so a result
 * can be traced to the code that produced it.
 */
#ifndef GPTC_VERSION_H
#define GPTC_VERSION_H

#define GPTC_VERSION "0.1.0"

extern const char gptc_commit[];

#endif
