"""A separate-process stream client for the kill -9 resume test (not a test module).

    python stream_client_process.py TARGET AUTHORIZATION orders|positions FROM_SEQUENCE OUT_FILE

(AUTHORIZATION "" sends no credential.)

Streams order events (or position updates) from FROM_SEQUENCE and appends one line per event to
OUT_FILE -- ``<sequence> <hex of the serialized event>`` -- flushed after every message, so a
SIGKILL at any moment leaves every complete line the client received (the last line may be torn).
"""

from __future__ import annotations

import sys

import grpc

from algotrendy.v1 import orders_pb2, orders_pb2_grpc, portfolio_pb2, portfolio_pb2_grpc


def main() -> None:
    target, authorization, kind, from_sequence, out_path = sys.argv[1:6]
    metadata = (("authorization", authorization),) if authorization else ()
    with grpc.insecure_channel(target) as channel, open(out_path, "a", encoding="ascii") as out:
        if kind == "orders":
            calls = orders_pb2_grpc.OrderServiceStub(channel).StreamOrderEvents(
                orders_pb2.StreamOrderEventsRequest(from_sequence=int(from_sequence)), metadata=metadata
            )
            for message in calls:
                for event in message.events:
                    out.write(f"{event.sequence} {event.SerializeToString().hex()}\n")
                out.flush()
        else:
            calls = portfolio_pb2_grpc.PortfolioServiceStub(channel).StreamPositions(
                portfolio_pb2.StreamPositionsRequest(from_sequence=int(from_sequence)), metadata=metadata
            )
            for message in calls:
                for update in message.updates:
                    out.write(f"{update.sequence} {update.SerializeToString().hex()}\n")
                out.flush()


if __name__ == "__main__":
    main()
