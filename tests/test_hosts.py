"""Workers on several machines, set up as the README's "Scaling out" says: three capture hosts
(network namespaces, each with its own address and host name) run `make run`'s launcher with
SHOOTFLOW_PROCESSES=capture against one broker, one PostgreSQL and one shared media folder,
all on the main host (this machine), which runs web, images, beat and Flower the same way.
Nothing is mocked: the processes are the Procfile's, under honcho, and the hosts reach the
main host over a bridge as they would over a network. The broker is the suite's: Redis, or
RabbitMQ with Redis keeping the results (`make test DATABASE=postgresql BROKER=amqp`).
Needs root (to make the hosts) and PostgreSQL (SQLite cannot be shared between machines)."""
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from shootflow.testing import hosts
from shootflow.testing.pages import PageServer
from shootflow.testing.servers import (
    ROOT,
    PostgresServer,
    RabbitServer,
    RedisServer,
    free_port,
    wait_for,
)
from tests.conftest import BROKER, DATABASE

WHY_NOT = ("hosts share one PostgreSQL: make test DATABASE=postgresql"
           if DATABASE != "postgresql" else hosts.why_not())
pytestmark = [pytest.mark.skipif(WHY_NOT is not None, reason=f"no hosts: {WHY_NOT}"),
              pytest.mark.amqp]

HOSTS = 3
FLOWER = ("ops", secrets.token_hex(8))


class Cluster:
    """The main host's servers and processes, and the capture hosts; .url is the web app's."""

    def __init__(self, root):
        self.root, self.procs = root, []
        self.network = hosts.Network(HOSTS)
        self.redis = self.rabbit = self.postgres = self.pages = None
        try:
            main = self.network.gateway  # where every host finds the main host
            self.redis = RedisServer(root / "redis", host=main)
            if BROKER == "amqp":  # RabbitMQ the broker, Redis the result store
                self.rabbit = RabbitServer(root / "rabbitmq", host=main)
            self.postgres = PostgresServer(host=main)
            self.pages = PageServer(host=main)
        except BaseException:
            self.stop()
            raise
        self.port, self.flower_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.flower = f"http://127.0.0.1:{self.flower_port}"
        ours = {key: value for key, value in os.environ.items()
                if not key.startswith("SHOOTFLOW_")}
        self.env = {
            **ours, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            # What every host shares (README, "Scaling out").
            "SHOOTFLOW_BROKER_URL": (self.rabbit or self.redis).url,
            "SHOOTFLOW_RESULT_BACKEND": self.redis.url,
            "SHOOTFLOW_DATABASE_URL": self.postgres.create_database(),
            "SHOOTFLOW_MEDIA_DIR": str(root / "media"),  # the shared mount
            "SHOOTFLOW_SECRET_KEY": secrets.token_hex(16),
            "SHOOTFLOW_ALLOWED_NETWORKS": f"{main}/32",  # the pages are on the main host
            "SHOOTFLOW_INSTANCE_DIR": str(root / "main"),
            "PORT": str(self.port), "SHOOTFLOW_FLOWER_PORT": str(self.flower_port),
            "SHOOTFLOW_FLOWER_USER": FLOWER[0], "SHOOTFLOW_FLOWER_PASSWORD": FLOWER[1],
            # One capture process a host; lost work is sent again after 3 s.
            "SHOOTFLOW_CAPTURE_CONCURRENCY": "1", "SHOOTFLOW_STUCK_AFTER": "3",
            "SHOOTFLOW_WATCHDOG_INTERVAL": "1", "SHOOTFLOW_PAGE_LOAD_TIMEOUT": "15",
            # The test's folders are root's alone: stay root (Chromium without its sandbox).
            "SHOOTFLOW_RUN_AS": "root",
        }

    def start(self):
        """What `make run` does after its set-up, with SHOOTFLOW_PROCESSES saying which
        Procfile entries each host runs (README, "Scaling out")."""
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                       cwd=ROOT, env=self.env, check=True, capture_output=True)
        self._start("main", {**self.env, "SHOOTFLOW_PROCESSES": "web,images,beat,flower"})
        for host in self.network.hosts:
            self._start(host.name, {**self.env, "SHOOTFLOW_PROCESSES": "capture",
                                    "SHOOTFLOW_INSTANCE_DIR": str(self.root / host.name)},
                        host)
        wait_for(self._answers, timeout=60, message="the web app to answer")

    def _start(self, name, env, host=None):
        log = open(self.root / f"{name}.log", "ab")
        command = f"{sys.executable} -m shootflow.launcher"
        if host is None:
            self.procs.append(subprocess.Popen(
                command, shell=True, cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True))
        else:
            self.procs.append(host.start(command, env, log, ROOT))

    def _answers(self):
        try:
            return requests.get(f"{self.url}/api/v1/bundles", timeout=2).status_code == 200
        except requests.RequestException:  # not listening yet, or still starting
            return False

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.network.remove()  # whatever is left on the hosts
        for server in (self.pages, self.postgres, self.rabbit, self.redis):
            if server is not None:
                server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("hosts")
    (root / "redis").mkdir()
    made = Cluster(root)
    try:
        made.start()
        yield made
    finally:
        made.stop()


def capture_workers(cluster):
    return {f"capture@{host.name}" for host in cluster.network.hosts}


def ops_page(cluster):
    return requests.get(f"{cluster.url}/ops", timeout=10).text


def test_ops_and_flower_show_the_worker_of_every_host(cluster):
    wait_for(lambda: all(name in ops_page(cluster) for name in capture_workers(cluster)),
             timeout=90, message="/ops to list a capture worker on every host")
    flower = requests.get(f"{cluster.flower}/api/workers", params={"refresh": 1}, auth=FLOWER,
                          timeout=30)
    assert flower.status_code == 200, flower.text
    assert capture_workers(cluster) <= set(flower.json())


def submit(cluster, path, count):
    """Once every host's worker is up, a bundle of count pages at path that each take a
    second to load; their URLs, and the bundle's in the API."""
    wait_for(lambda: all(name in ops_page(cluster) for name in capture_workers(cluster)),
             timeout=90, message="every host's capture worker")
    token = secrets.token_hex(4)
    urls = [cluster.pages.url(path, seconds="1", n=f"{token}-{n}") for n in range(count)]
    submitted = requests.post(f"{cluster.url}/api/v1/bundles", json={"urls": urls}, timeout=30)
    assert submitted.status_code == 202, submitted.text
    return urls, f"{cluster.url}{submitted.json()['url']}"


def finished(bundle_url):
    body = requests.get(bundle_url, timeout=10).json()
    return body if body["state"] not in ("queued", "running") else None


def test_a_host_cut_off_for_a_while_has_its_capture_taken_over(cluster):
    """The third host drops off the network while it loads a page, long enough for the
    watchdog to give its capture to another host, then comes back and finishes that capture
    late. The capture kept is the other host's (each page is titled with the address that
    loaded it); the late one is dropped, and the host works on."""
    urls, bundle_url = submit(cluster, "/whoami", 6)

    *others, away = cluster.network.hosts
    url = wait_for(lambda: next((url for url in urls
                                 if away.address in cluster.pages.loaded_by(url)), None),
                   timeout=60, message="the third host to load a page")
    away.cut()
    try:
        wait_for(lambda: len(cluster.pages.loaded_by(url)) > 1, timeout=60,
                 message="another host to load the page the third one was loading")
    finally:
        away.reconnect()
    body = wait_for(lambda: finished(bundle_url), timeout=120, message="the bundle to finish")
    assert body["state"] == "done", body
    titles = {shot["url"]: shot["title"] for shot in body["shots"]}
    assert titles[url] in {host.address for host in others}, titles
    assert set(titles) == set(urls) and all(titles.values()), titles
    wait_for(lambda: f"capture@{away.name}" in ops_page(cluster), timeout=90,
             message="/ops to list the third host's worker again")


def test_a_bundle_spreads_over_every_host_and_one_killed_loses_nothing(cluster):
    """Pages that take a second to load; the second host is killed while it loads one."""
    urls, bundle_url = submit(cluster, "/slow", 12)

    first, victim, third = cluster.network.hosts
    wait_for(lambda: any(victim.address in cluster.pages.loaded_by(url) for url in urls),
             timeout=60, message="the second host to load a page")
    victim.kill()

    body = wait_for(lambda: finished(bundle_url), timeout=120, message="the bundle to finish")
    assert body["state"] == "done", body
    assert [shot["state"] for shot in body["shots"]] == ["done"] * len(urls)
    loaders = {url: set(cluster.pages.loaded_by(url)) for url in urls}
    # Every page was captured by a host still alive; the killed host's too.
    assert all(by & {first.address, third.address} for by in loaders.values()), loaders
    assert any(victim.address in by for by in loaders.values())
    # The work was shared out: each live host captured pages.
    assert all(any(host.address in by for by in loaders.values()) for host in (first, third))
    # Pictures written by the capture hosts, thumbnails made on the main host: one folder.
    for shot in body["shots"]:
        for key in ("image_url", "thumbnail_url"):
            assert requests.get(f"{cluster.url}{shot[key]}", timeout=10).status_code == 200
    # The killed host's worker no longer answers, and /ops says so.
    wait_for(lambda: f"capture@{victim.name}" not in ops_page(cluster), timeout=30,
             message="/ops to drop the killed host's worker")
    assert f"capture@{first.name}" in ops_page(cluster)
