"""Reading rows as the workers left them."""
from shootflow.extensions import db
from shootflow.models import Bundle, Shot
from tests.servers import wait_for


def fresh(model, row_id):
    """The row as it is in the database now, not as this session last saw it."""
    db.session.expire_all()
    return db.session.get(model, row_id)


def wait_finished(bundle_id, timeout=90):
    return wait_for(lambda: (b := fresh(Bundle, bundle_id)) and b.finished and b,
                    timeout=timeout, message=f"bundle {bundle_id} to finish")


def row_counts():
    db.session.expire_all()
    return (db.session.query(Bundle).count(), db.session.query(Shot).count())
