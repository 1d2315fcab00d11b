"""Local clusters for the multi-worker tests: ports and TF_CONFIG."""

import json
import socket


def free_ports(count: int) -> list:
  """`count` ports on 127.0.0.1 that nothing listens on now."""
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def worker_tf_configs(count: int) -> list:
  """TF_CONFIG of each of `count` workers on 127.0.0.1."""
  cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
  return [json.dumps({"cluster": cluster,
                      "task": {"type": "worker", "index": i}})
          for i in range(count)]
