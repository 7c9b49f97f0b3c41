#!/usr/bin/env python3
"""huffllmd API: every endpoint, streamed and not, exact SSE framing, stop strings split
across tokens, n > 1, seeds, logprobs, echo, every error status, /metrics through promtool.
Two real models at once. Bounded: 180 s in all, 30 s per request."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_util import (STORIES_GREEDY, Daemon, base_config, check, deadline, finish,
                         metric_value, models)

deadline(180)
M = models()
d = Daemon(base_config({"stories": M["stories"], "tiny": M.get("tiny", M["stories"])},
                       server_extra="body_limit = 4K\nmax_tokens = 1000"))


def error_shape(body, status_what):
    e = body.get("error") if isinstance(body, dict) else None
    ok = isinstance(e, dict) and set(e) == {"message", "type", "param", "code"}
    return check(ok, status_what + ": error has exactly message/type/param/code") and e


# ---- info endpoints ----
st, h, body = d.json("GET", "/health")
check(st == 200 and body.get("status") == "ok", "GET /health is 200 ok")
st, h, body = d.json("GET", "/v1/models")
ids = [m.get("id") for m in body.get("data", [])]
check(st == 200 and body.get("object") == "list" and ids == ["stories", "tiny"],
      "GET /v1/models lists both models in config order")
for m in body.get("data", []):
    check(m.get("object") == "model" and m.get("owned_by") == "huffllm" and
          isinstance(m.get("created"), int), "model %s has the OpenAI shape" % m.get("id"))
    check(m.get("status") == "unloaded" and m.get("compressed_bytes", 0) > 0 and
          m.get("raw_bytes", 0) > 0, "model %s: unloaded, with compressed and raw sizes"
          % m.get("id"))
st, h, body = d.json("GET", "/v1/models/nope")
e = error_shape(body, "unknown model")
check(st == 404 and e and e["code"] == "model_not_found", "GET /v1/models/nope is 404 model_not_found")
st, h, body = d.json("GET", "/v1/models/../../etc/passwd")
check(st == 404, "path traversal in the model id is 404")
st, h, body = d.json("GET", "/v1/nothing")
error_shape(body, "unknown route")
check(st == 404, "unknown route is 404")
st, h, body = d.json("POST", "/v1/models", {})
check(st == 405 and "GET" in h.get("allow", ""), "POST /v1/models is 405 with Allow")
st, h, body = d.json("GET", "/v1/completions")
check(st == 405 and h.get("allow") == "POST", "GET /v1/completions is 405, Allow: POST")
st, h, _ = d.request("HEAD", "/health")
check(st == 200, "HEAD /health is 200")

# ---- completions ----
req = {"model": "stories", "prompt": "", "max_tokens": 40, "temperature": 0}
st, h, body = d.json("POST", "/v1/completions", req)
text = body["choices"][0]["text"] if st == 200 else ""
check(st == 200 and body.get("object") == "text_completion" and
      body.get("id", "").startswith("cmpl-"), "completion: 200 text_completion cmpl-…")
check(text.startswith(STORIES_GREEDY), "greedy stories260K from BOS matches llama2.c: %r" % text[:60])
check(body.get("choices", [{}])[0].get("finish_reason") == "length", "finish_reason length")
u = body.get("usage", {})
check(u.get("prompt_tokens") == 1 and u.get("completion_tokens") == 40 and
      u.get("total_tokens") == 41, "usage counts BOS + 40 tokens")
st, h, body = d.json("GET", "/v1/models/stories")
check(st == 200 and body.get("status") == "loaded" and body.get("context_length") == 512,
      "after a request the model is loaded (context 512)")
greedy = text

# the first request for the second model is a stream: it waits for the load, then streams
st, h, raw, ev = d.stream("/v1/completions", {"model": "tiny", "prompt": "Once upon a time",
                                             "max_tokens": 12, "temperature": 0, "stream": True})
chunks = [c for c in ev if c != "[DONE]"]
check(st == 200 and ev and ev[-1] == "[DONE]" and chunks[-1]["choices"][0]["finish_reason"] and
      sum(len(c["choices"][0]["text"]) for c in chunks) > 0,
      "a stream that waits for its model's load streams the whole answer")
st, h, body = d.json("POST", "/v1/completions",
                     {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 12,
                      "temperature": 0})
check(st == 200 and body["choices"][0]["text"] == "".join(c["choices"][0]["text"] for c in chunks),
      "second model answers too, the same text as its stream")

# default max_tokens is 16
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": "Once"})
check(st == 200 and body["usage"]["completion_tokens"] <= 16 and
      body["choices"][0]["finish_reason"] in ("length", "stop"), "max_tokens defaults to 16")

# streamed == non-streamed, exact framing and headers
try:
    st, h, raw, ev = d.stream("/v1/completions", dict(req, stream=True))
    framing = True
except ValueError as ex:
    print(ex)
    st, h, raw, ev, framing = 0, {}, b"", [], False
check(framing and st == 200, "stream: 200 and every event is 'data: …\\n\\n'")
check(h.get("content-type", "").startswith("text/event-stream") and
      h.get("cache-control") == "no-cache" and h.get("x-accel-buffering") == "no",
      "stream headers: text/event-stream, no-cache, X-Accel-Buffering: no")
check(ev and ev[-1] == "[DONE]", "stream ends with data: [DONE]")
chunks = [c for c in ev if c != "[DONE]"]
check(len({(c["id"], c["created"]) for c in chunks}) == 1, "every chunk has the same id and created")
check(all("usage" not in c for c in chunks), "without include_usage no chunk has a usage key")
check(all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1]) and
      chunks and chunks[-1]["choices"][0]["finish_reason"] == "length",
      "finish_reason only on the last chunk")
check("".join(c["choices"][0]["text"] for c in chunks) == greedy, "streamed text == non-streamed text")

# stop strings split across tokens (the stop text spans several tokens)
cut = greedy.find("little girl")
stop_req = dict(req, stop=["little girl", "zzz"])
st, h, body = d.json("POST", "/v1/completions", stop_req)
check(st == 200 and body["choices"][0]["text"] == greedy[:cut] and
      body["choices"][0]["finish_reason"] == "stop", "stop string: text ends before it, finish stop")
st, h, raw, ev = d.stream("/v1/completions", dict(stop_req, stream=True))
chunks = [c for c in ev if c != "[DONE]"]
check("".join(c["choices"][0]["text"] for c in chunks) == greedy[:cut] and
      chunks[-1]["choices"][0]["finish_reason"] == "stop", "streamed stop string is held back, never sent")

# n > 1 with a seed reproduces; different seeds differ
nreq = {"model": "stories", "prompt": "Once upon a time", "max_tokens": 20, "temperature": 1.0,
        "n": 3, "seed": 42}
st, h, a = d.json("POST", "/v1/completions", nreq)
st2, h, b = d.json("POST", "/v1/completions", nreq)
st3, h, c = d.json("POST", "/v1/completions", dict(nreq, seed=43))
ta = [x["text"] for x in sorted(a.get("choices", []), key=lambda x: x["index"])]
tb = [x["text"] for x in sorted(b.get("choices", []), key=lambda x: x["index"])]
tc = [x["text"] for x in sorted(c.get("choices", []), key=lambda x: x["index"])]
check(st == 200 and [x["index"] for x in a["choices"]] == [0, 1, 2], "n=3 gives choices 0, 1, 2")
check(ta == tb, "same seed reproduces all choices")
check(len(set(ta)) > 1, "the n choices differ from each other")
check(ta != tc, "another seed gives other text")
check(a["usage"]["completion_tokens"] == sum(1 for _ in ta) * 20 or
      a["usage"]["completion_tokens"] <= 60, "usage sums the choices")
# streamed n > 1: every index gets its finish
st, h, raw, ev = d.stream("/v1/completions", dict(nreq, stream=True))
fin = {c["choices"][0]["index"] for c in ev if c != "[DONE]" and c["choices"][0]["finish_reason"]}
check(fin == {0, 1, 2}, "streamed n=3: each choice finishes")
st, h, raw, ev = d.stream("/v1/completions", dict(nreq, stream=True))
texts = {}
for c0 in ev:
    if c0 != "[DONE]":
        texts[c0["choices"][0]["index"]] = texts.get(c0["choices"][0]["index"], "") + c0["choices"][0]["text"]
check([texts.get(i) for i in range(3)] == ta, "streamed seeded n=3 equals the non-streamed choices")

# several prompts
st, h, body = d.json("POST", "/v1/completions",
                     {"model": "stories", "prompt": ["Once", "The dog"], "max_tokens": 5,
                      "temperature": 0})
check(st == 200 and sorted(x["index"] for x in body["choices"]) == [0, 1], "array of prompts gives one choice each")
st, h, body = d.json("POST", "/v1/completions",
                     {"model": "stories", "prompt": [1], "max_tokens": 10, "temperature": 0})
check(st == 200 and greedy.startswith(body["choices"][0]["text"]), "token-id prompt [BOS] gives the greedy text")

# logprobs and echo
st, h, body = d.json("POST", "/v1/completions", dict(req, max_tokens=5, logprobs=2))
lp = body["choices"][0].get("logprobs") if st == 200 else None
check(lp is not None and len(lp["tokens"]) == 5 and len(lp["token_logprobs"]) == 5 and
      all(len(t) <= 2 for t in lp["top_logprobs"]) and all(v <= 0 for v in lp["token_logprobs"]),
      "logprobs=2: 5 tokens with log-probabilities and top alternatives")
st, h, body = d.json("POST", "/v1/completions",
                     {"model": "stories", "prompt": "Once upon", "max_tokens": 3, "echo": True,
                      "temperature": 0})
check(st == 200 and body["choices"][0]["text"].startswith("Once upon"), "echo puts the prompt first")

# echo + logprobs + max_tokens 0 scores the prompt (what evaluation harnesses use)
st, h, body = d.json("POST", "/v1/completions",
                     {"model": "stories", "prompt": "Once upon a time", "max_tokens": 0,
                      "echo": True, "logprobs": 1})
lp = body["choices"][0]["logprobs"] if st == 200 else None
check(st == 200 and body["choices"][0]["text"] == "Once upon a time" and lp and
      len(lp["tokens"]) == body["usage"]["prompt_tokens"] and lp["token_logprobs"][0] is None and
      all(v is not None and v <= 0 for v in lp["token_logprobs"][1:]) and
      "".join(lp["tokens"]) == "Once upon a time" and lp["text_offset"][-1] == len("Once upon a"),
      "echo + logprobs with max_tokens 0 scores every prompt token")

# ---- chat ----
creq = {"model": "stories", "messages": [{"role": "user", "content": "Tell me a story."}],
        "max_tokens": 10, "temperature": 0}
st, h, body = d.json("POST", "/v1/chat/completions", creq)
check(st == 200 and body.get("object") == "chat.completion" and body.get("id", "").startswith("chatcmpl-")
      and body["choices"][0]["message"]["role"] == "assistant" and
      isinstance(body["choices"][0]["message"]["content"], str), "chat completion shape")
chat_text = body["choices"][0]["message"]["content"] if st == 200 else None
st, h, raw, ev = d.stream("/v1/chat/completions",
                          dict(creq, stream=True, stream_options={"include_usage": True}))
chunks = [c for c in ev if c != "[DONE]"]
check(ev[-1] == "[DONE]" and chunks[0]["object"] == "chat.completion.chunk", "chat stream ends with [DONE]")
check(chunks[0]["choices"][0]["delta"].get("role") == "assistant", "first chat delta carries the role")
check(chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 10,
      "include_usage: last chunk has choices [] and usage")
check(all("usage" in c and c["usage"] is None for c in chunks[:-1]), "other chunks carry usage: null")
check(chunks[-2]["choices"][0]["finish_reason"] == "length" and chunks[-2]["choices"][0]["delta"] == {},
      "last choice chunk: empty delta with finish_reason")
check("".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == chat_text,
      "streamed chat text == non-streamed")

# ---- errors ----
st, h, body = d.json("POST", "/v1/completions", "{not json")
e = error_shape(body, "malformed JSON")
check(st == 400 and e and e["type"] == "invalid_request_error", "malformed JSON is 400")
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": "x", "temperature": 5})
e = error_shape(body, "bad temperature")
check(st == 400 and e and e["param"] == "temperature", "temperature 5 is 400 with param temperature")
st, h, body = d.json("POST", "/v1/completions", {"model": "nope", "prompt": "x"})
e = error_shape(body, "unknown model in body")
check(st == 404 and e and e["code"] == "model_not_found", "unknown model is 404 model_not_found")
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": "x", "max_tokens": 600})
e = error_shape(body, "context")
check(st == 400 and e and e["code"] == "context_length_exceeded", "prompt + max_tokens > 512 is 400 context_length_exceeded")
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": "x", "max_tokens": 2000})
check(st == 400 and body["error"]["param"] == "max_tokens", "max_tokens above the server limit is 400")
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": "x" * 8000})
error_shape(body, "413")
check(st == 413, "a body over body_limit is 413")
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": [99999]})
check(st == 400 and body["error"]["param"] == "prompt", "token id outside the vocabulary is 400")
st, h, body = d.json("POST", "/v1/completions", {"model": "stories", "prompt": "x", "n": 33})
check(st == 400 and body["error"]["param"] == "n", "more choices than max_batch is 400 with param n")
st, h, body = d.json("POST", "/v1/chat/completions", {"model": "stories", "messages": []})
check(st == 400, "empty messages is 400")

# ---- metrics ----
st, text = d.metrics()
check(st == 200, "GET /metrics is 200")
check(metric_value(text, "huffllm_http_requests_total",
                   {"endpoint": "/v1/completions", "status": "200"}) is not None,
      "requests counted by endpoint and status")
check((metric_value(text, "huffllm_generation_tokens_total", {"model": "stories"}) or 0) > 40,
      "generated tokens counted per model")
check(metric_value(text, "huffllm_model_compressed_bytes", {"model": "tiny"}) is not None and
      metric_value(text, "huffllm_model_raw_bytes", {"model": "stories"}) is not None,
      "compressed and raw bytes per model")
check((metric_value(text, "huffllm_time_to_first_token_seconds_count", {"model": "stories"}) or 0) > 0,
      "time to first token histogram filled")
check((metric_value(text, "huffllm_decoded_bytes_total") or 0) > 0, "bytes decoded by the engine")
check((metric_value(text, "process_resident_memory_bytes") or 0) > 1e6, "resident memory reported")
check(metric_value(text, "huffllm_build_info") == 1, "build_info gauge")
for fam in ("huffllm_time_per_output_token_seconds", "huffllm_e2e_request_latency_seconds",
            "huffllm_request_queue_time_seconds", "huffllm_batch_size", "huffllm_num_requests_running",
            "huffllm_num_requests_waiting", "huffllm_hot_buffer_bytes", "huffllm_models_loaded",
            "huffllm_decode_seconds_total", "huffllm_prompt_tokens_total"):
    check("# TYPE %s " % fam in text, "metric family %s present" % fam)
promtool = shutil.which("promtool")
if promtool:
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    check(r.returncode == 0, "promtool check metrics: %s" % r.stdout.decode().strip()[:300])
else:
    print("SKIP promtool check metrics: promtool not installed (Debian package prometheus)")

d.stop()
check(d.proc.returncode == 0, "SIGTERM exits 0")
finish()
