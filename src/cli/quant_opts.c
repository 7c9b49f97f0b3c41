/* --quantize / --group / --quantize-tensor of `huffllm compress` (cli/quant_opts.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/quant_opts.h"

/* "u8", "u4", "u8g32", "u4g128", ... -> bits, group (group_out untouched without gNN). */
static int parse_spec(const char *s, unsigned *bits, unsigned *group, bool *has_group)
{
    *has_group = false;
    if (!strcmp(s, "none") || !strcmp(s, "lossless")) {
        *bits = 0;
        *group = 0;
        return 0;
    }
    if (s[0] != 'u' || (s[1] != '8' && s[1] != '4'))
        return -1;
    *bits = (unsigned)(s[1] - '0');
    if (s[2] == '\0')
        return 0;
    if (!strcmp(s + 2, "g0") || !strcmp(s + 2, "g32") || !strcmp(s + 2, "g64") ||
        !strcmp(s + 2, "g128")) {
        *group = (unsigned)atoi(s + 3);
        *has_group = true;
        return 0;
    }
    return -1;
}

/* "mix" or "mix:KL" (KL a target in nats, > 0). */
static int parse_mix(hl_cli_quant_t *q, const char *arg)
{
    q->mix_kl = HL_CLI_MIX_KL_DEFAULT;
    if (arg[3] == ':') {
        char *end;
        q->mix_kl = strtod(arg + 4, &end);
        if (end == arg + 4 || *end || !(q->mix_kl > 0 && q->mix_kl < 100)) {
            fprintf(stderr, "huffllm compress: --quantize mix:KL expects a target KL in nats "
                            "(0 < KL < 100), got '%s'\n", arg);
            return 2;
        }
    }
    q->on = q->mix = true;
    q->o.bits = 4;
    if (!q->group_set)
        q->o.group = 32;
    return 0;
}

int hl_cli_quant_parse_mode(hl_cli_quant_t *q, const char *arg)
{
    unsigned bits, group = q->o.group;
    bool hg;
    if (!strncmp(arg, "mix", 3) && (arg[3] == '\0' || arg[3] == ':'))
        return parse_mix(q, arg);
    q->mix = false;
    /* "u4...:single": one u4 code per symbol (the format before pairs; for comparisons) */
    char spec[16];
    size_t len = strlen(arg);
    bool single = len > 7 && !strcmp(arg + len - 7, ":single");
    if (single)
        len -= 7;
    if (len >= sizeof spec)
        len = sizeof spec - 1; /* too long to be valid: parse_spec refuses the rest */
    memcpy(spec, arg, len);
    spec[len] = '\0';
    if (parse_spec(spec, &bits, &group, &hg) || bits == 0 || (single && bits != 4)) {
        fprintf(stderr, "huffllm compress: --quantize expects u8, u4 (optionally with a "
                        "group: u8g32, u4g128; u4 codes are Huffman-coded in pairs, u4:single "
                        "codes them one by one) or mix[:KL], got '%s'\n", arg);
        return 2;
    }
    q->o.single_u4 = single;
    q->on = true;
    q->o.bits = bits;
    if (hg && !q->group_set)
        q->o.group = group;
    else if (!q->group_set) /* defaults measured in docs/ENTROLLM.md: g32 for both (u8 g32
                              * is the only u8 setting near 99% top-1 agreement) */
        q->o.group = 32;
    return 0;
}

int hl_cli_quant_parse_group(hl_cli_quant_t *q, const char *arg)
{
    if (strcmp(arg, "0") && strcmp(arg, "32") && strcmp(arg, "64") && strcmp(arg, "128")) {
        fprintf(stderr, "huffllm compress: --group expects 0 (per tensor), 32, 64 or 128, got "
                        "'%s'\n", arg);
        return 2;
    }
    q->o.group = (unsigned)atoi(arg);
    q->group_set = true;
    return 0;
}

int hl_cli_quant_parse_rule(hl_cli_quant_t *q, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    unsigned bits, group = 0;
    bool hg;
    if (!eq || eq == arg || parse_spec(eq + 1, &bits, &group, &hg) ||
        q->o.n_rules >= HL_CLI_QUANT_MAX_RULES) {
        fprintf(stderr, "huffllm compress: --quantize-tensor expects REGEX=u8|u4|u8g32|u4g128|"
                        "none (at most %d), got '%s'\n", HL_CLI_QUANT_MAX_RULES, arg);
        return 2;
    }
    hl_quant_rule_t *r = &q->rules[q->o.n_rules++];
    /* The regex is the text before '=': argv outlives the command, so point into it with
     * a copy only of the pattern. */
    char *re = strndup(arg, (size_t)(eq - arg));
    if (!re) {
        fprintf(stderr, "huffllm compress: out of memory\n");
        return 2;
    }
    r->regex = re;
    r->bits = bits;
    r->group = hg ? group : (unsigned)-1; /* -1: the global group */
    return 0;
}

int hl_cli_quant_apply(hl_cli_quant_t *q, hl_source_t *src, const char *out_path, int argc,
                       char **argv, hl_error_t *err)
{
    if (!q->on)
        return 0;
    for (size_t i = 0; i < q->o.n_rules; i++)
        if (q->rules[i].group == (unsigned)-1)
            q->rules[i].group = q->o.group;
    q->o.rules = q->rules;
    char *dir = strdup(out_path), *slash;
    size_t how_len = 1;
    for (int i = 0; i < argc; i++)
        how_len += strlen(argv[i]) + 1;
    char *how = malloc(how_len);
    if (!dir || !how) {
        free(dir);
        free(how);
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    how[0] = '\0';
    for (int i = 0; i < argc; i++) {
        strcat(how, argv[i]);
        if (i + 1 < argc)
            strcat(how, " ");
    }
    if ((slash = strrchr(dir, '/')) != NULL)
        *slash = '\0';
    else
        strcpy(dir, ".");
    q->o.work_dir = *dir ? dir : "/";
    q->o.how = how;
    int rc = 0;
    size_t n_user = q->o.n_rules;
    if (q->mix && (rc = hl_cli_quant_mix_plan(q, src, q->o.work_dir, err)) == 0) {
        q->o.rules = q->plan;
        q->o.n_rules = q->n_plan;
    }
    if (rc == 0)
        rc = hl_quant_source(src, &q->o, &q->tmp_path, err);
    if (rc == 0 && q->mix_record) {
        json_t *qm = json_object_get(src->metadata, "quantization");
        json_object_set_new(qm, "mix", q->mix_record);
        json_object_set_new(qm, "mode", json_string("mix"));
        q->mix_record = NULL;
    }
    q->o.rules = q->rules;
    q->o.n_rules = n_user;
    free(dir);
    free(how);
    q->o.work_dir = NULL;
    q->o.how = NULL;
    return rc;
}

void hl_cli_quant_done(hl_cli_quant_t *q)
{
    if (q->tmp_path) {
        unlink(q->tmp_path);
        free(q->tmp_path);
        q->tmp_path = NULL;
    }
    for (size_t i = 0; i < q->o.n_rules; i++)
        free((char *)q->rules[i].regex);
    q->o.n_rules = 0;
    for (size_t i = q->n_plan_owned_from; i < q->n_plan; i++)
        free((char *)q->plan[i].regex);
    free(q->plan);
    q->plan = NULL;
    q->n_plan = q->n_plan_owned_from = 0;
    json_decref(q->mix_record);
    q->mix_record = NULL;
}
