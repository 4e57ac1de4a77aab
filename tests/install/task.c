/* A task in a shared library, for the installed-cfutures check (scripts/check-install). */
#include <stddef.h>
#include <string.h>

#include <cfutures.h>

/* Result: the argument's bytes in reverse order. */
int reverse_task(const void *arg, size_t arg_len, cf_out *out);

int reverse_task(const void *arg, size_t arg_len, cf_out *out) {
    const unsigned char *in = arg;
    unsigned char *res = cf_out_alloc(out, arg_len);
    size_t i;
    if (res == NULL && arg_len > 0) {
        return 1;
    }
    for (i = 0; i < arg_len; i++) {
        res[i] = in[arg_len - 1 - i];
    }
    return 0;
}
