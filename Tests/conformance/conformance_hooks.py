"""schemathesis hooks of the conformance stage (loaded through SCHEMATHESIS_HOOKS by run.sh).

1. POST /v1/crl/imports takes a CRL as application/pkix-crl (DER) or application/x-pem-file (PEM);
   schemathesis has no serializer for either, and would report the operation as an error without
   sending anything. Both are sent as the generated value's bytes.

2. One retry of an answer lost in the socat relay. paysignd refuses some requests (403, 415, …)
   from their head alone, answers with Connection: close and closes without reading the body the
   head announced. requests sends the head and the body in two writes; when socat relays the late
   body, its write to the closed Unix socket fails (EPIPE) and socat ends the TCP connection at
   once, dropping whatever part of the answer it had not forwarded yet: all of it ("Remote end
   closed connection without response") or its body ("IncompleteRead(0 bytes read, N more
   expected)"). A client on the socket itself gets the whole answer (curl --unix-socket does).
   Such a request is sent once more on a new connection and written to $CONFORMANCE_RETRY_LOG, so
   that the summary lists it; a second loss is reported by schemathesis as the error it is. A
   refused connection is not retried (the daemon or the relay is gone).
"""
import json
import os

import requests
import schemathesis
from schemathesis.transport import requests as transport

schemathesis.serializer.alias("application/x-pem-file", "text/plain")
schemathesis.serializer.alias("application/pkix-crl", "application/octet-stream")

_request = transport._request  # schemathesis 4.32.5 (pinned in requirements.txt)


def _request_retrying_cut_answers(session, data, max_stream_events):
    try:
        return _request(session, data, max_stream_events)
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
        if isinstance(exc, requests.exceptions.ConnectTimeout) or "refused" in str(exc).lower():
            raise
        log = os.environ.get("CONFORMANCE_RETRY_LOG")
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"method": data.get("method"), "url": data.get("url"), "error": str(exc)[:200]}) + "\n")
        return _request(session, data, max_stream_events)


transport._request = _request_retrying_cut_answers
