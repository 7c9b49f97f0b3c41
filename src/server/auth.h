/*
 * API keys: "Authorization: Bearer <key>" checked against the configured keys and the
 * scopes a route needs. With no [key.*] section configured, the server is open (the
 * operator chose so; README says to bind to 127.0.0.1 then). Keys are compared in constant
 * time and never logged; callers log the key's *name*.
 */
#ifndef HL_SERVER_AUTH_H
#define HL_SERVER_AUTH_H

#include "server/config.h"
#include "server/route.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    HL_AUTH_OK = 0,
    HL_AUTH_MISSING,   /* 401: no (Bearer) credentials */
    HL_AUTH_INVALID,   /* 401: unknown key */
    HL_AUTH_FORBIDDEN, /* 403: valid key without the route's scope */
} hl_auth_result_t;

/*
 * @param authorization the Authorization header value or NULL.
 * @param key_name receives the matching key's name (borrowed from c) or NULL.
 */
hl_auth_result_t hl_auth_check(const hl_config_t *c, const hl_route_t *route,
                               const char *authorization, const char **key_name);

#ifdef __cplusplus
}
#endif
#endif /* HL_SERVER_AUTH_H */
