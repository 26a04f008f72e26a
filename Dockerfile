# The service (IVR controller, dialer, HTTP API) for docker-compose.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY common/ common/
COPY ivr/ ivr/
COPY dialer/ dialer/
COPY examples/ examples/
RUN pip install --no-cache-dir .
COPY flows/ flows/
COPY prompts/ prompts/
COPY asterisk/ asterisk/
EXPOSE 4573 8080
CMD ["bankcc", "run"]
