"""A Lambda Runtime API client that streams: how the API functions answer token by token.

The managed Python runtime (``awslambdaric``) returns a function's response whole. API
Gateway's ``responseTransferMode: STREAM`` needs the response posted to the Runtime API in
streaming mode (``Lambda-Runtime-Function-Response-Mode: streaming``, chunked, in the
``application/vnd.awslambda.http-integration-response`` format: a JSON head, eight NUL
bytes, then the body as it is produced). This package is that client, started in place of
``awslambdaric`` by the ``AWS_LAMBDA_EXEC_WRAPPER`` script the bundle ships
(``functions/stream_runtime``), on the same managed Python runtime: same interpreter, same
boto3, SnapStart kept (this client drives the ``/restore/next`` lifecycle itself).

- :mod:`.client`: the HTTP calls (next, response, streamed response, errors, restore);
- :mod:`.http_stream`: the ASGI app behind one API Gateway event, written as that format;
- :mod:`.loop`: the process: load the handler, SnapStart, then one invocation at a time.

See docs/streaming.md for why this and not the Lambda Web Adapter.
"""
