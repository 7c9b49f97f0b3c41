/*
 * safetensors models: a single .safetensors file, a sharded model
 * (model.safetensors.index.json + shards), or a Hugging Face directory holding either plus
 * config.json, tokenizer.json, tokenizer_config.json, generation_config.json and
 * special_tokens_map.json. Every file that matters becomes an hl_src_file_t so that
 * `decompress` can restore the directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "import/internal.h"

/* Side files kept with the model (restored by decompress); `parse`: read as JSON here. */
static const struct {
    const char *name;
    bool parse;
} side_files[] = {
    {"config.json", true},          {"generation_config.json", true},
    {"tokenizer.json", true},       {"tokenizer_config.json", true},
    {"chat_template.json", true},   {"special_tokens_map.json", false},
    {"tokenizer.model", false},     {"added_tokens.json", false},
    {"vocab.json", false},          {"merges.txt", false},
    {"chat_template.jinja", false},
};
enum { SIDE_CONFIG, SIDE_GEN, SIDE_TOKENIZER, SIDE_TOKCFG, SIDE_CHAT_JSON };
#define MAX_JSON_FILE (1ull << 30)

static bool is_file(const char *path, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    if (size)
        *size = (uint64_t)st.st_size;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Loads a JSON file. Hugging Face files hold integers beyond 64 bits (model_max_length =
 * 1e30): if jansson refuses those, the file is read again with integers as reals. */
static int load_json(const char *path, json_t **out, hl_error_t *err)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = hl_read_file(path, MAX_JSON_FILE, &text, &len, err);
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *j = json_loadb(text, len, 0, &jerr);
    if (!j && strstr(jerr.text, "too big"))
        j = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &jerr);
    free(text);
    if (!j)
        return hl_error_set(err, HL_EFORMAT, "%s: invalid JSON: %s (line %d, column %d)", path,
                            jerr.text, jerr.line, jerr.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return hl_error_set(err, HL_EFORMAT, "%s: not a JSON object", path);
    }
    *out = j;
    return 0;
}

/* An optional side file of the directory: absent = NULL, present but bad = error. */
static int load_side(const char *dir, const char *name, json_t **out, hl_error_t *err)
{
    char *p = hl__imp_path_join(dir, name);
    *out = NULL;
    if (!p)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    int rc = is_file(p, NULL) ? load_json(p, out, err) : 0;
    free(p);
    return rc;
}

/* A non-negative integer field (integral reals accepted, see load_json). */
static int cfg_uint(const json_t *cfg, const char *key, uint64_t dflt, bool required,
                    const char *fname, uint64_t *v, hl_error_t *err)
{
    const json_t *j = json_object_get(cfg, key);
    *v = dflt;
    if (!j || json_is_null(j)) {
        if (required)
            return hl_error_set(err, HL_EFORMAT, "%s: %s is missing", fname, key);
        return 0;
    }
    double d = json_number_value(j);
    if (!json_is_number(j) || d < 0 || d > (double)INT32_MAX || d != (double)(uint64_t)d)
        return hl_error_set(err, HL_EFORMAT, "%s: %s is not a non-negative integer", fname,
                            key);
    *v = (uint64_t)d;
    return 0;
}

static int cfg_real(const json_t *cfg, const char *key, double dflt, const char *fname,
                    double *v, hl_error_t *err)
{
    const json_t *j = json_object_get(cfg, key);
    *v = dflt;
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_number(j))
        return hl_error_set(err, HL_EFORMAT, "%s: %s is not a number", fname, key);
    *v = json_number_value(j);
    return 0;
}

static int build_hparams(const json_t *cfg, bool has_lm_head, bool has_embed,
                         const char *fname, json_t **out, hl_error_t *err)
{
    hl__hparams_t hp = {.rope_layout = "neox"};
    int rc;
    if ((rc = cfg_uint(cfg, "hidden_size", 0, true, fname, &hp.dim, err)) ||
        (rc = cfg_uint(cfg, "num_hidden_layers", 0, true, fname, &hp.n_layers, err)) ||
        (rc = cfg_uint(cfg, "num_attention_heads", 0, true, fname, &hp.n_heads, err)) ||
        (rc = cfg_uint(cfg, "num_key_value_heads", hp.n_heads, false, fname, &hp.n_kv_heads,
                       err)) ||
        (rc = cfg_uint(cfg, "intermediate_size", 0, true, fname, &hp.hidden_dim, err)) ||
        (rc = cfg_uint(cfg, "vocab_size", 0, true, fname, &hp.vocab_size, err)) ||
        (rc = cfg_uint(cfg, "max_position_embeddings", 0, true, fname, &hp.context_length,
                       err)) ||
        (rc = cfg_uint(cfg, "head_dim", hp.n_heads ? hp.dim / hp.n_heads : 0, false, fname,
                       &hp.head_dim, err)) ||
        (rc = cfg_real(cfg, "rope_theta", 10000.0, fname, &hp.rope_theta, err)) ||
        (rc = cfg_real(cfg, "rms_norm_eps", 1e-6, fname, &hp.rms_norm_eps, err)))
        return rc;
    hp.rope_dim = hp.head_dim;
    const json_t *tie = json_object_get(cfg, "tie_word_embeddings");
    /* A tied model may store either matrix once; no lm_head means the embedding serves. */
    hp.shared_classifier = json_is_true(tie) || !has_lm_head || !has_embed;
    rc = hl__imp_hparams_json(&hp, fname, out, err);
    /* RoPE scaling (Llama 3, YaRN, ...) changes the rotation: pass it on rather than let an
     * engine that ignores it run the model wrongly without a trace. */
    const json_t *scaling = json_object_get(cfg, "rope_scaling");
    if (rc == 0 && json_is_object(scaling) &&
        json_object_set(*out, "rope_scaling", (json_t *)scaling) != 0) {
        json_decref(*out);
        *out = NULL;
        rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    return rc;
}

static bool parse_layer(const char **p, unsigned *layer)
{
    char *end;
    if (**p < '0' || **p > '9')
        return false;
    unsigned long v = strtoul(*p, &end, 10);
    if (*end != '.' || v > 1u << 20)
        return false;
    *layer = (unsigned)v;
    *p = end + 1;
    return true;
}

bool hl__hf_role(const char *name, bool tied, char *role, size_t cap)
{
    static const struct {
        const char *hf, *gguf;
    } layer_map[] = {
        {"self_attn.q_proj.", "attn_q."},     {"self_attn.k_proj.", "attn_k."},
        {"self_attn.v_proj.", "attn_v."},     {"self_attn.o_proj.", "attn_output."},
        {"mlp.gate_proj.", "ffn_gate."},      {"mlp.up_proj.", "ffn_up."},
        {"mlp.down_proj.", "ffn_down."},      {"input_layernorm.", "attn_norm."},
        {"post_attention_layernorm.", "ffn_norm."},
    };
    const char *suffix;
    int n = -1;
    if (strncmp(name, "model.embed_tokens.", 19) == 0) {
        n = snprintf(role, cap, "token_embd.%s", name + 19);
    } else if (strncmp(name, "lm_head.", 8) == 0) {
        n = snprintf(role, cap, "%s.%s", tied ? "token_embd" : "output", name + 8);
    } else if (strncmp(name, "model.norm.", 11) == 0) {
        n = snprintf(role, cap, "output_norm.%s", name + 11);
    } else if (strncmp(name, "model.layers.", 13) == 0) {
        const char *p = name + 13;
        unsigned layer;
        if (!parse_layer(&p, &layer))
            return false;
        for (size_t i = 0; i < HL_ARRAY_SIZE(layer_map) && n < 0; i++) {
            size_t len = strlen(layer_map[i].hf);
            if (strncmp(p, layer_map[i].hf, len) == 0) {
                suffix = p + len;
                n = snprintf(role, cap, "blk.%u.%s%s", layer, layer_map[i].gguf, suffix);
            }
        }
    }
    return n > 0 && (size_t)n < cap;
}

/* Where the model's files are. */
typedef struct {
    char *dir;
    char *primary; /* path of the primary file: the .safetensors or the index */
    bool sharded;
} layout_t;

static int find_layout(const char *path, layout_t *l, hl_error_t *err)
{
    memset(l, 0, sizeof *l);
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        return hl_error_set_errno(err, e == ENOENT ? HL_ENOENT : HL_EIO, e, "%s: cannot stat",
                                  path);
    }
    if (!S_ISDIR(st.st_mode)) {
        l->dir = hl__imp_path_dir(path);
        l->primary = strdup(path);
        l->sharded = ends_with(path, ".json");
        return l->dir && l->primary ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    l->dir = strdup(path);
    if (!l->dir)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    const char *cands[] = {"model.safetensors.index.json", "model.safetensors"};
    for (size_t i = 0; i < HL_ARRAY_SIZE(cands); i++) {
        char *p = hl__imp_path_join(path, cands[i]);
        if (p && is_file(p, NULL)) {
            l->primary = p;
            l->sharded = i == 0;
            return 0;
        }
        free(p);
    }
    /* Otherwise exactly one *.safetensors file. */
    DIR *d = opendir(path);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d))) {
        if (!ends_with(e->d_name, ".safetensors"))
            continue;
        if (found++ == 0)
            l->primary = hl__imp_path_join(path, e->d_name);
    }
    if (d)
        closedir(d);
    if (found == 1 && l->primary)
        return 0;
    free(l->primary);
    l->primary = NULL;
    return hl_error_set(err, found ? HL_EFORMAT : HL_ENOENT,
                        "%s: %s (expected model.safetensors or model.safetensors.index.json)",
                        path, found ? "several .safetensors files and no index" :
                                      "no .safetensors file");
}

static void layout_dispose(layout_t *l)
{
    free(l->dir);
    free(l->primary);
}

/* Adds one shard: its file and its tensors (roles as if the model were not tied). */
static int add_shard(hl_source_t *src, const char *dir, const char *name, bool primary,
                     const json_t *weight_map, json_t **st_meta, hl_error_t *err)
{
    char *path = hl__imp_path_join(dir, name);
    if (!path)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    hl_mapped_file_t m = {.fd = -1};
    hl__safetensors_t st = {0};
    uint32_t file;
    int rc = hl_map_file(&m, path, err);
    if (rc == 0)
        rc = hl__safetensors_parse(m.data, m.size, m.size, path, &st, err);
    if (rc == 0)
        rc = hl__imp_add_file(src, name, path, m.size, primary, &file, err);
    for (size_t i = 0; i < st.n_tensors && rc == 0; i++) {
        const hl__st_tensor_t *t = &st.tensors[i];
        if (weight_map) {
            const char *want = json_string_value(json_object_get(weight_map, t->name));
            if (!want || strcmp(want, name) != 0)
                hl_log_warn("%s: tensor %s is not listed for this shard in the index", path,
                            t->name);
        }
        char role[256];
        bool has_role = hl__hf_role(t->name, false, role, sizeof role);
        rc = hl__imp_add_tensor(src, path, t->name, has_role ? role : NULL, t->dtype,
                                t->n_dims, t->shape, file, st.data_offset + t->begin,
                                t->end - t->begin, err);
    }
    if (rc == 0 && st.metadata && !*st_meta)
        *st_meta = json_incref(st.metadata);
    hl__safetensors_dispose(&st);
    hl_unmap_file(&m);
    free(path);
    return rc;
}

/* The shard names of an index, each once, in first-seen order. */
static int shard_names(const json_t *index, const char *fname, json_t **out, hl_error_t *err)
{
    const json_t *wm = json_object_get(index, "weight_map");
    *out = NULL;
    if (!json_is_object(wm))
        return hl_error_set(err, HL_EFORMAT, "%s: weight_map is missing", fname);
    json_t *names = json_array(), *seen = json_object();
    int rc = names && seen ? 0 : hl_error_set(err, HL_ENOMEM, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)wm, key, v) {
        const char *s = json_string_value(v);
        if (rc != 0)
            break;
        if (!s || !*s || strchr(s, '/') || strcmp(s, "..") == 0 || strcmp(s, ".") == 0) {
            rc = hl_error_set(err, HL_EFORMAT,
                              "%s: weight_map[%s] is not a file name in the directory", fname,
                              key);
        } else if (!json_object_get(seen, s)) {
            if (json_object_set_new(seen, s, json_true()) != 0 ||
                json_array_append_new(names, json_string(s)) != 0)
                rc = hl_error_set(err, HL_ENOMEM, "out of memory");
        }
    }
    json_decref(seen);
    if (rc != 0) {
        json_decref(names);
        return rc;
    }
    *out = names;
    return 0;
}

/* Every tensor the index names must be in the shard it names. */
static int check_index(const hl_source_t *src, const json_t *wm, const char *fname,
                       hl_error_t *err)
{
    json_t *where = json_object(); /* tensor name → its shard's file name */
    if (!where)
        return hl_error_set(err, HL_ENOMEM, "out of memory");
    for (size_t i = 0; i < src->n_tensors; i++)
        json_object_set_new(where, src->tensors[i].name,
                            json_string(src->files[src->tensors[i].file].name));
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)wm, key, v) {
        const char *in = json_string_value(json_object_get(where, key));
        if (!in || strcmp(in, json_string_value(v)) != 0) {
            rc = hl_error_set(err, HL_EFORMAT, "%s: tensor %s is not in shard %s", fname, key,
                              json_string_value(v));
            break;
        }
    }
    json_decref(where);
    return rc;
}

static int add_tensors(hl_source_t *src, const layout_t *l, json_t **index, json_t **st_meta,
                       hl_error_t *err)
{
    *index = NULL;
    if (!l->sharded)
        return add_shard(src, l->dir, hl__imp_path_base(l->primary), true, NULL, st_meta, err);
    json_t *names = NULL;
    uint64_t size = 0;
    int rc = load_json(l->primary, index, err);
    if (rc == 0 && !is_file(l->primary, &size))
        rc = hl_error_set(err, HL_EIO, "%s: not a regular file", l->primary);
    if (rc == 0)
        rc = hl__imp_add_file(src, hl__imp_path_base(l->primary), l->primary, size, true, NULL,
                              err);
    if (rc == 0)
        rc = shard_names(*index, l->primary, &names, err);
    const json_t *wm = json_object_get(*index, "weight_map");
    for (size_t i = 0; rc == 0 && i < json_array_size(names); i++)
        rc = add_shard(src, l->dir, json_string_value(json_array_get(names, i)), false, wm,
                       st_meta, err);
    if (rc == 0)
        rc = check_index(src, wm, l->primary, err);
    json_decref(names);
    return rc;
}

static bool has_name(const hl_source_t *src, const char *name)
{
    for (size_t i = 0; i < src->n_tensors; i++)
        if (strcmp(src->tensors[i].name, name) == 0)
            return true;
    return false;
}

/* A tied model may store only lm_head: it then serves as the embedding (and classifier). */
static int fix_tied_role(hl_source_t *src, hl_error_t *err)
{
    if (has_name(src, "model.embed_tokens.weight"))
        return 0;
    for (size_t i = 0; i < src->n_tensors; i++) {
        hl_src_tensor_t *t = &src->tensors[i];
        char role[256];
        if (strncmp(t->name, "lm_head.", 8) != 0 || !hl__hf_role(t->name, true, role,
                                                                   sizeof role))
            continue;
        char *r = strdup(role);
        if (!r)
            return hl_error_set(err, HL_ENOMEM, "out of memory");
        free(t->role);
        t->role = r;
    }
    return 0;
}

/* Newer transformers save the chat template beside tokenizer_config.json: in
 * chat_template.json ({"chat_template": "..."}) or as chat_template.jinja. */
static json_t *separate_chat_template(const char *dir, const json_t *chat_json)
{
    const json_t *t = json_object_get(chat_json, "chat_template");
    if (json_is_string(t))
        return json_incref((json_t *)t);
    char *p = hl__imp_path_join(dir, "chat_template.jinja"), *text = NULL;
    size_t len = 0;
    json_t *j = NULL;
    if (p && is_file(p, NULL) && hl_read_file(p, MAX_JSON_FILE, &text, &len, NULL) == 0) {
        j = json_stringn(text, len);
        if (!j)
            hl_log_warn("%s: not UTF-8 text; no chat template", p);
    }
    free(text);
    free(p);
    return j;
}

int hl_import_safetensors(const char *path, hl_source_t *out, hl_error_t *err)
{
    memset(out, 0, sizeof *out);
    layout_t l;
    json_t *side[HL_ARRAY_SIZE(side_files)] = {0};
    json_t *index = NULL, *st_meta = NULL, *hparams = NULL, *tok = NULL, *tmpl = NULL;
    int rc = find_layout(path, &l, err);
    if (rc == 0)
        rc = add_tensors(out, &l, &index, &st_meta, err);
    if (rc == 0)
        rc = fix_tied_role(out, err);
    for (size_t i = 0; i < HL_ARRAY_SIZE(side_files) && rc == 0; i++) {
        char *p = hl__imp_path_join(l.dir, side_files[i].name);
        uint64_t size;
        if (!p)
            rc = hl_error_set(err, HL_ENOMEM, "out of memory");
        else if (is_file(p, &size))
            rc = hl__imp_add_file(out, side_files[i].name, p, size, false, NULL, err);
        free(p);
        if (rc == 0 && side_files[i].parse)
            rc = load_side(l.dir, side_files[i].name, &side[i], err);
    }
    json_t *config = side[SIDE_CONFIG], *gen = side[SIDE_GEN];
    json_t *tokjson = side[SIDE_TOKENIZER], *tokcfg = side[SIDE_TOKCFG];
    const char *cfg_name = "config.json";
    const char *model_type = json_string_value(json_object_get(config, "model_type"));
    if (rc == 0 && config) {
        rc = build_hparams(config, has_name(out, "lm_head.weight"),
                           has_name(out, "model.embed_tokens.weight"), cfg_name, &hparams,
                           err);
        if (rc != 0 && model_type && strcmp(model_type, "llama") != 0) {
            /* Only Llama-style models run; others still compress and restore, so their
             * hyperparameters are best effort (as for GGUF). */
            hl_log_warn("%s: no hyperparameters for model_type %s: %s", l.dir, model_type,
                        hl_error_msg(err, rc));
            hl_error_clear(err);
            rc = 0;
        }
    }
    if (rc == 0 && !tokjson && config)
        hl_log_warn("%s: no tokenizer.json: the model compresses, but cannot be run", l.dir);
    if (rc == 0 && tokjson)
        rc = hl__hf_tokenizer(tokjson, tokcfg, config, gen, "tokenizer.json", &tok, &tmpl, err);
    if (rc == 0 && !tmpl)
        tmpl = separate_chat_template(l.dir, side[SIDE_CHAT_JSON]);
    if (rc == 0) {
        const char *arch = model_type;
        json_t *source = json_pack("{s{sOsOsOsO}}", "safetensors", "metadata",
                                   st_meta ? st_meta : json_null(), "config",
                                   config ? config : json_null(), "tokenizer_config",
                                   tokcfg ? tokcfg : json_null(), "index_metadata",
                                   index && json_object_get(index, "metadata")
                                       ? json_object_get(index, "metadata")
                                       : json_null());
        out->metadata = hl__imp_metadata_new("safetensors", arch ? arch : (config ? "llama" : NULL),
                                             hparams, tok, tmpl, gen ? json_incref(gen) : NULL,
                                             source);
        hparams = tok = tmpl = NULL;
        if (!out->metadata || !source)
            rc = hl_error_set(err, HL_ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = hl__imp_check(out, err);
    for (size_t i = 0; i < HL_ARRAY_SIZE(side); i++)
        json_decref(side[i]);
    json_decref(index);
    json_decref(st_meta);
    json_decref(hparams);
    json_decref(tok);
    json_decref(tmpl);
    layout_dispose(&l);
    if (rc != 0)
        hl_source_dispose(out);
    return rc;
}
