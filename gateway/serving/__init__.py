"""Between the handlers and dispatch, one module per API family: what a request means to the gateway.

A handler parses the HTTP request and renders what comes back (server/); the serving object builds the
call from the parsed body, owns the API's translation and conversation state, runs it through
dispatch, and returns a result any transport can render: a JSON body (`JSONResult`) or a stream of
already-framed events (`EventStream`). Nothing here knows about Litestar.
"""
