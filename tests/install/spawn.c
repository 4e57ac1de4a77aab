/*
 * The installed cfutures with the spawn start method and no CF_WORKER_PATH: the library must
 * find the installed cf-worker by itself (PREFIX/libexec/cfutures/cf-worker). Run by
 * scripts/check-install; prints the result and exits 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

int reverse_task(const void *arg, size_t arg_len, cf_out *out);

int main(void) {
    cf_executor_options *opts = cf_executor_options_new();
    cf_executor *ex;
    cf_future *f;
    const void *data;
    size_t len;
    cf_status st;

    if (getenv("CF_WORKER_PATH") != NULL) {
        fprintf(stderr, "spawn: CF_WORKER_PATH is set; this check needs the default search\n");
        return 2;
    }
    if (opts == NULL || cf_executor_options_set_start_method(opts, CF_START_SPAWN) != CF_OK) {
        fprintf(stderr, "spawn: options: %s\n", cf_last_error());
        return 1;
    }
    ex = cf_executor_new(CF_PROCESS_POOL, 1, opts);
    cf_executor_options_free(opts);
    if (ex == NULL) {
        fprintf(stderr, "spawn: cf_executor_new: %s\n", cf_last_error());
        return 1;
    }
    st = cf_submit(ex, reverse_task, "installed", 9, &f);
    if (st != CF_OK) {
        fprintf(stderr, "spawn: cf_submit: %s: %s\n", cf_status_str(st), cf_last_error());
        return 1;
    }
    st = cf_future_result(f, 60.0, &data, &len);
    if (st != CF_OK) {
        fprintf(stderr, "spawn: result: %s: %s\n", cf_status_str(st), cf_last_error());
        return 1;
    }
    if (len != 9 || memcmp(data, "dellatsni", 9) != 0) {
        fprintf(stderr, "spawn: wrong result (%zu bytes)\n", len);
        return 1;
    }
    printf("spawn via the installed cf-worker: %.*s\n", (int)len, (const char *)data);
    cf_future_free(f);
    cf_executor_free(ex);
    return 0;
}
