#!/usr/bin/env python3
"""A command rater that asks a hosted judge model (any OpenAI-compatible chat endpoint) to score responses.

Speaks alignc's JSONL rater protocol (docs/raters.md) using only the Python standard library:

    rater hosted = command(["python3", "raters/hosted-judge.py"]) {
      aspects: [helpfulness, correctness], scale: 0..4, mode: listwise,
      timeout: 120s, retries: 3, concurrency: 4,
      env: { JUDGE_MODEL: "gpt-4o-mini" }
    }

Environment:
    JUDGE_BASE_URL   the API base, default https://api.openai.com/v1 (e.g. http://localhost:8000/v1 for vLLM)
    JUDGE_MODEL      the model name (required)
    JUDGE_API_KEY    the bearer token (falls back to OPENAI_API_KEY; optional for local servers)
    JUDGE_HTTP_TIMEOUT  seconds per HTTP call, default 100 (keep it below the rater's timeout setting)

alignc runs up to `concurrency` copies of this program, each answering one request at a time, so this script
stays sequential. Transient HTTP failures (429, 5xx, network errors) are answered with {"error", "retry": true}
so alignc retries them with backoff; anything else is a refusal of that item. The item's image (request["image"],
an absolute path) is sent as a data URL in an OpenAI-style image content part; set JUDGE_SEND_IMAGES=0 for
text-only endpoints.
"""

import base64
import json
import os
import re
import sys
import urllib.error
import urllib.request

BASE_URL = os.environ.get("JUDGE_BASE_URL", "https://api.openai.com/v1").rstrip("/")
MODEL = os.environ.get("JUDGE_MODEL", "")
API_KEY = os.environ.get("JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY", "")
HTTP_TIMEOUT = float(os.environ.get("JUDGE_HTTP_TIMEOUT", "100"))


class Transient(Exception):
    """A failure worth retrying (rate limit, server error, network)."""


def log(message):
    # stdout is for replies only: everything else goes to stderr, which alignc keeps for error reports.
    print(f"hosted-judge: {message}", file=sys.stderr, flush=True)


def build_prompt(request):
    lo, hi = request["scale"]["min"], request["scale"]["max"]
    aspects = ", ".join(request["aspects"])
    listing = "\n\n".join(f"[Response {i + 1}]\n{text}" for i, text in enumerate(request["responses"]))
    truth = request.get("ground_truth")
    reference = f"\n\nReference answer (may be partial):\n{json.dumps(truth)}" if truth is not None else ""
    shape = "{" + ", ".join(f'"{a}": <integer {lo}-{hi}>' for a in request["aspects"]) + "}"
    return (
        f"Rate each response to the prompt on these aspects: {aspects}. "
        f"Use integers from {lo} (worst) to {hi} (best).\n\n"
        f"Prompt:\n{request['prompt']}{reference}\n\n{listing}\n\n"
        f'Answer with JSON only: {{"scores": [{shape}, ... one object per response, in order], "rationale": "<one sentence>"}}'
    )


def user_content(prompt, image):
    # Text, plus the image as a data URL when there is one and the endpoint takes images.
    if not image or os.environ.get("JUDGE_SEND_IMAGES", "1") == "0":
        return prompt
    with open(image, "rb") as f:
        encoded = base64.b64encode(f.read()).decode("ascii")
    return [{"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}}]


def chat(prompt, image=None):
    body = json.dumps(
        {
            "model": MODEL,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": "You are a strict, consistent grader. Reply with JSON only."},
                {"role": "user", "content": user_content(prompt, image)},
            ],
        }
    ).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if API_KEY:
        headers["Authorization"] = f"Bearer {API_KEY}"
    http_request = urllib.request.Request(f"{BASE_URL}/chat/completions", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(http_request, timeout=HTTP_TIMEOUT) as response:
            payload = json.load(response)
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")[:300]
        if error.code == 429 or error.code >= 500:
            raise Transient(f"HTTP {error.code}: {detail}") from error
        raise ValueError(f"HTTP {error.code}: {detail}") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise Transient(f"cannot reach {BASE_URL}: {error}") from error
    return payload["choices"][0]["message"]["content"]


def parse_scores(text, request):
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if not match:
        raise Transient(f"the judge did not answer with JSON: {text[:200]!r}")
    try:
        answer = json.loads(match.group(0))
    except json.JSONDecodeError as error:
        raise Transient(f"the judge's JSON does not parse ({error}): {text[:200]!r}") from error
    scores = answer.get("scores") if isinstance(answer, dict) else None
    lo, hi = request["scale"]["min"], request["scale"]["max"]
    if not isinstance(scores, list) or len(scores) != len(request["responses"]):
        raise Transient(f"the judge gave {len(scores) if isinstance(scores, list) else 'no'} score objects for {len(request['responses'])} responses")
    cleaned = []
    for i, entry in enumerate(scores):
        missing = [a for a in request["aspects"] if not isinstance(entry, dict) or not isinstance(entry.get(a), (int, float))]
        if missing:
            # Ask again rather than invent a score.
            raise Transient(f"the judge gave no score for {', '.join(missing)} of response {i + 1}")
        # Clamp and round: models drift off the scale now and then; alignc would reject the whole reply.
        cleaned.append({a: max(lo, min(hi, round(float(entry[a])))) for a in request["aspects"]})
    reply = {"id": request["id"], "scores": cleaned}
    if isinstance(answer.get("rationale"), str):
        reply["rationale"] = answer["rationale"]
    return reply


def answer(request):
    try:
        return parse_scores(chat(build_prompt(request), request.get("image")), request)
    except Transient as error:
        log(f"{request['id']}: {error}")
        return {"id": request["id"], "error": str(error), "retry": True}
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        log(f"{request['id']}: {error}")
        return {"id": request["id"], "error": str(error)}


def main():
    if not MODEL:
        # Exiting with a message on stderr: alignc shows its last line with the failure.
        log("JUDGE_MODEL is not set; add it to the rater's env setting")
        sys.exit(2)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        sys.stdout.write(json.dumps(answer(request)) + "\n")
        sys.stdout.flush()  # one reply per line, now: alignc is waiting for it


if __name__ == "__main__":
    main()
