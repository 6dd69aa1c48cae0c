"""The Flask extensions, one line each; bound to the app in ``create_app``."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

# A naming convention keeps constraint names stable across SQLite and PostgreSQL migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))  # the ORM session
migrate = Migrate(render_as_batch=True, compare_type=True)  # Alembic, dsar/migrations
csrf = CSRFProtect()  # CSRF token on every POST form
babel = Babel()  # French first, English available
login_manager = LoginManager()  # staff sessions (the back office)
limiter = Limiter(key_func=get_remote_address)  # intake rate limits per address
