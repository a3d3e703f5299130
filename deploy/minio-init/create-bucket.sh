#!/bin/sh
# One-shot compose job (minio/mc image): create MINIO_BUCKET on MINIO_ENDPOINT if missing.
set -eu
mc alias set launchwatch "$MINIO_ENDPOINT" "$MINIO_ACCESS_KEY" "$MINIO_SECRET_KEY"
mc mb --ignore-existing "launchwatch/$MINIO_BUCKET"
echo "bucket $MINIO_BUCKET ready on $MINIO_ENDPOINT"
