# A Flask app as its quickstart writes one, served by gunicorn: `gunicorn flask_app:app`.
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return f"hello from {os.getpid()}\n"
