/* Bearer-key authentication and scope checks. */
#include "server/auth.h"

#include <string.h>
#include <strings.h>

#include "huffllm/common.h"

/* Compares digests rather than the keys so the time taken says nothing about the length or
 * any prefix of a configured key. */
static bool hl__key_equal(const char *a, size_t a_len, const char *b)
{
    uint8_t da[HL_SHA256_LEN], db[HL_SHA256_LEN];
    hl_sha256(a, a_len, da);
    hl_sha256(b, strlen(b), db);
    unsigned diff = 0;
    for (size_t i = 0; i < HL_SHA256_LEN; i++)
        diff |= (unsigned)(da[i] ^ db[i]);
    return diff == 0;
}

hl_auth_result_t hl_auth_check(const hl_config_t *c, const hl_route_t *route,
                               const char *authorization, const char **key_name)
{
    if (key_name)
        *key_name = NULL;
    if (c->n_keys == 0)
        return HL_AUTH_OK;
    if ((route->id == HL_ROUTE_METRICS && c->metrics_public) ||
        (route->id == HL_ROUTE_HEALTH && c->health_public))
        return HL_AUTH_OK;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return HL_AUTH_MISSING;
    const char *presented = authorization + 7;
    while (*presented == ' ')
        presented++;
    size_t len = strlen(presented);
    while (len && (presented[len - 1] == ' ' || presented[len - 1] == '\t'))
        len--;
    if (len == 0)
        return HL_AUTH_MISSING;
    const hl_key_conf_t *found = NULL;
    /* Every key is compared (no early exit), so timing does not tell which one matched. */
    for (size_t i = 0; i < c->n_keys; i++)
        if (hl__key_equal(presented, len, c->keys[i].key))
            found = &c->keys[i];
    if (!found)
        return HL_AUTH_INVALID;
    if (key_name)
        *key_name = found->name;
    return (found->scopes & route->scopes) ? HL_AUTH_OK : HL_AUTH_FORBIDDEN;
}
