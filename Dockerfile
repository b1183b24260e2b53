FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir .
ENV PROREG_DATABASE_URL=sqlite:///./proreg.db
EXPOSE 8000
CMD ["sh", "-c", "proreg migrate && proreg serve --host 0.0.0.0 --port 8000 --workers ${PROREG_WORKERS:-2}"]
