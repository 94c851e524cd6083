/* registry.c — every sink plugin; adding a sink is one folder under src/sink/ and one line here.
 * Tests may add one plugin of their own (fp_sink_register_test). */
#include <string.h>

#include "connect/sink.h"

extern const fp_sink_plugin fp_sink_objstore;
extern const fp_sink_plugin fp_sink_redis;
extern const fp_sink_plugin fp_sink_dynamodb;
extern const fp_sink_plugin fp_sink_aggregate;

const fp_sink_plugin *const fp_sink_plugins[] = {
    &fp_sink_objstore, &fp_sink_redis, &fp_sink_dynamodb, &fp_sink_aggregate, NULL,
};

/* The test plugin (fp_sink_register_test); set by a test's main thread before anything reads
 * it, so no lock. */
static const fp_sink_plugin *test_plugin;

void fp_sink_register_test(const fp_sink_plugin *p)
{
    test_plugin = p;
}

const fp_sink_plugin *fp_sink_find(const char *cls)
{
    if (test_plugin && !strcmp(test_plugin->name, cls))
        return test_plugin;
    for (size_t i = 0; fp_sink_plugins[i]; i++) {
        const fp_sink_plugin *p = fp_sink_plugins[i];
        if (!strcmp(p->name, cls))
            return p;
        for (size_t j = 0; p->aliases && p->aliases[j]; j++)
            if (!strcmp(p->aliases[j], cls))
                return p;
    }
    return NULL;
}
