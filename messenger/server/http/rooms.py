from flask import Blueprint

bp = Blueprint("rooms", __name__)
