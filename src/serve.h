/*-------------------------------------------------------------------------
 *
 * serve.h
 *		The worker's request handling (serve.c), called from its main loop
 *		(worker.c).  A NULL engine means the model did not load.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEEPSEEK_SERVE_H
#define DEEPSEEK_SERVE_H

#include "engine.h"

extern void DsServeInit(uint64 generation);
extern void DsServeRetire(ds_engine *e);
extern void DsServeAdmit(ds_engine *e);
extern bool DsServeStep(ds_engine *e);
extern bool DsServeFlush(ds_engine *e);
extern int	DsServeActive(void);
extern void DsServePublish(ds_engine *e);
extern void DsServeAbandon(void);

#endif							/* DEEPSEEK_SERVE_H */
