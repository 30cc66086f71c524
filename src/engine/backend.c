/*
 * backend.c -- find a compute backend by device name.
 *
 * "cpu" is built in.  Any other device is a shared library
 * <lib_dir>/deepseek_<device>.so exporting ds_backend_entry(); it is loaded
 * only when asked for, so a CPU-only process never maps a GPU runtime.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

typedef const ds_backend_ops *(*entry_fn) (void);

/* Backend for a device name. */
int
ds_backend_find(const char *device, const char *lib_dir, const ds_backend_ops **ops, char *err)
{
	char		path[4096];
	void	   *lib;
	entry_fn	entry;

	*ops = NULL;
	if (device == NULL || device[0] == '\0' || strcmp(device, "cpu") == 0)
	{
		*ops = &ds_backend_cpu;
		return DS_OK;
	}
	for (const char *c = device; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return ds_error(err, DS_ERR_ARG, "invalid device name \"%s\"", device);
	snprintf(path, sizeof(path), "%s/deepseek_%s.so", lib_dir ? lib_dir : ".", device);
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL)
		return ds_error(err, DS_ERR_UNSUPPORTED, "device \"%s\" is not available: %s", device,
						dlerror());
	entry = (entry_fn) dlsym(lib, "ds_backend_entry");
	if (entry == NULL || (*ops = entry()) == NULL)
	{
		dlclose(lib);
		return ds_error(err, DS_ERR_UNSUPPORTED, "%s has no usable ds_backend_entry", path);
	}
	return DS_OK;
}
