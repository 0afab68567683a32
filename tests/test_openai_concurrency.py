"""The OpenAI-compatible client against a scripted local HTTP server (no model): bounded
requests in flight, retries on 429 and 5xx, every request answered once or raised."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from depo_ray.serving.openai_client import EndpointConfig, OpenAIEndpoint, backoff_delay
from depo_ray.serving.server import Sampling


class ScriptedAPI(BaseHTTPRequestHandler):
    """Echoes the last message back. A prompt "throttled ..." is refused with 429 on its first
    try and "flaky ..." with 500; "broken" always fails."""

    lock = threading.Lock()
    tries: dict[str, int] = {}
    answered: dict[str, int] = {}
    in_flight = peak = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        cls = type(self)
        with cls.lock:
            cls.tries[prompt] = cls.tries.get(prompt, 0) + 1
            first_try = cls.tries[prompt] == 1
            cls.in_flight += 1
            cls.peak = max(cls.peak, cls.in_flight)
        time.sleep(0.02)  # long enough for requests to overlap
        with cls.lock:
            cls.in_flight -= 1
        if prompt == "broken" or (first_try and prompt.startswith(("throttled", "flaky"))):
            status = 429 if prompt.startswith("throttled") else 500
            return self._reply(status, {"error": {"message": "try again", "type": "server_error"}})
        with cls.lock:
            cls.answered[prompt] = cls.answered.get(prompt, 0) + 1
        choices = [{"index": i, "message": {"role": "assistant", "content": f"re: {prompt}"}, "finish_reason": "stop"}
                   for i in range(body.get("n", 1))]
        self._reply(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": choices,
                          "usage": {"prompt_tokens": 5, "completion_tokens": 3 * len(choices), "total_tokens": 5 + 3 * len(choices)}})

    def _reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedAPI)
    ScriptedAPI.tries, ScriptedAPI.answered, ScriptedAPI.in_flight, ScriptedAPI.peak = {}, {}, 0, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_requests_in_flight_are_bounded_retried_and_answered_once(api):
    endpoint = OpenAIEndpoint(EndpointConfig(base_url=api, model="m", max_in_flight=4, backoff_s=0.01, max_attempts=3))
    prompts = [f"{kind} {i}" for i in range(8) for kind in ("plain", "throttled", "flaky")]
    futures = {p: endpoint.submit([{"role": "user", "content": p}], n=2, sampling=Sampling(max_tokens=8)) for p in prompts}
    for prompt, future in futures.items():
        generations = future.result(timeout=30)
        assert [g.text for g in generations] == [f"re: {prompt}"] * 2 and all(g.completion_tokens == 3 for g in generations)
    assert ScriptedAPI.answered == {p: 1 for p in prompts}  # nothing lost, nothing twice
    assert {p: t for p, t in ScriptedAPI.tries.items() if not p.startswith("plain")} == {p: 2 for p in prompts if not p.startswith("plain")}
    assert 1 < ScriptedAPI.peak <= 4


def test_a_request_that_keeps_failing_raises_after_its_attempts(api):
    endpoint = OpenAIEndpoint(EndpointConfig(base_url=api, model="m", backoff_s=0.0, max_attempts=3))
    with pytest.raises(openai.InternalServerError):
        endpoint.submit([{"role": "user", "content": "broken"}]).result(timeout=30)
    assert ScriptedAPI.tries["broken"] == 3


def test_backoff_doubles_with_bounded_jitter():
    config = EndpointConfig(base_url="http://x", model="m", backoff_s=0.5)
    for attempt in range(4):
        delay = backoff_delay(config, attempt)
        assert 0.5 * 2 ** attempt <= delay <= 0.75 * 2 ** attempt
