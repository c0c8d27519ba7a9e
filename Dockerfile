# Flowtower's image: one image for web (python -m config.serve: uvicorn workers), worker and beat.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY monitoring monitoring
COPY alerts alerts
COPY n8n_mirror n8n_mirror
COPY templates templates
COPY manage.py ./
RUN pip install --no-cache-dir . \
 && SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 flowtower
USER flowtower
EXPOSE 8000
# One uvicorn worker per core (WEB_WORKERS), HTTP and websockets on :8000; no plain-text access line
# of the server's own: Flowtower logs each request as JSON (docs/serving.md).
CMD ["python", "-m", "config.serve"]
