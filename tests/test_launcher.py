"""`make run` starts a private redis-server only when no broker is set and none answers."""
from types import SimpleNamespace

from shootflow.launcher import processes


def test_running_broker_is_used(redis_server):
    config = SimpleNamespace(BROKER_URL=redis_server.url)
    assert processes(config, {}) == ["web", "capture", "images", "beat", "flower"]


def test_no_broker_starts_a_private_redis(closed_port_url):
    config = SimpleNamespace(BROKER_URL=closed_port_url.replace("http", "redis"))
    assert processes(config, {}) == ["web", "capture", "images", "beat", "flower", "redis"]


def test_configured_but_down_broker_is_not_replaced(closed_port_url, capsys):
    url = closed_port_url.replace("http", "redis")
    config = SimpleNamespace(BROKER_URL=url)
    assert processes(config, {"SHOOTFLOW_BROKER_URL": url}) == ["web", "capture", "images", "beat", "flower"]
    assert "is not answering" in capsys.readouterr().err
