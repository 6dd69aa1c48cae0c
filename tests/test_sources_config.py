"""A bad sources.toml or register.toml stops the app and ``dsar init`` with one line naming the
file, the key and the fault; a good pair loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dsar import create_app
from dsar.sources.base import SourceConfigError
from tests.support.app import app_config, dispose
from tests.support.gathering import BILLING_SOURCE, SHOP_SOURCE, write_config


def make_app(tmp_path, database_url, redis_url, key_file):
    config = app_config(database_url, redis_url, key_file, tmp_path / "storage", 1)
    config.update(SOURCES_FILE=str(tmp_path / "sources.toml"),
                  REGISTER_FILE=str(tmp_path / "register.toml"))
    return create_app(config)


def fault_of(tmp_path, database_url, redis_url, key_file) -> SourceConfigError:
    with pytest.raises(SourceConfigError) as caught:
        make_app(tmp_path, database_url, redis_url, key_file)
    return caught.value


@pytest.fixture
def config_args(tmp_path, database_url, redis_url, key_file):
    return tmp_path, database_url, redis_url, key_file


def test_a_valid_pair_loads(config_args):
    tmp_path = config_args[0]
    write_config(tmp_path, {"shop": SHOP_SOURCE, "billing": BILLING_SOURCE})
    app = make_app(*config_args)
    catalog = app.extensions["dsar_catalog"]
    assert set(catalog.sources) == {"shop", "billing"}
    assert catalog.sources["billing"].match_types == {"customer_id"}
    assert [p.name for p in catalog.register.for_sources(["billing"])] == ["customers"]
    dispose(app)


SOURCE_FAULTS = [
    # (what to change in the shop source, the key named, words of the fault)
    (('erasure = "anonymize"', 'erasure = "remove"'),
     "sources.shop.collections.customers.erasure", "must be one of delete, anonymize, retain"),
    (('kind = "sql"', 'kind = "ftp"'), "sources.shop.kind", "must be one of"),
    (('label = "Boutique"', 'label = "Boutique"\nlabl_en = "Shop"'), "sources.shop.labl_en",
     "unknown key"),
    (('email = "contact"', 'email = "contacts"'), "sources.shop.collections.customers.fields.email",
     "unknown category 'contacts'"),
    (('anonymize = { email = "hash", name = "null" }', 'anonymize = { email = "scramble" }'),
     "sources.shop.collections.customers.anonymize.email", "must be null, hash or fixed:TEXT"),
    (('[sources.shop.collections.customers]', '[sources.shop.collections.customers'),
     "(syntax)", ""),
]


@pytest.mark.parametrize(("change", "key", "words"), SOURCE_FAULTS,
                         ids=[f[1] for f in SOURCE_FAULTS])
def test_a_bad_sources_file_names_the_file_the_key_and_the_fault(config_args, change, key,
                                                                   words):
    tmp_path = config_args[0]
    write_config(tmp_path, {"shop": SHOP_SOURCE})
    path = tmp_path / "sources.toml"
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    fault = fault_of(*config_args)
    assert fault.file == str(path)
    assert fault.key == key
    assert words in fault.fault


REGISTER_FAULTS = [
    (('legal_basis = "contract"', 'legal_basis = "contrat"'),
     "processing.customers.legal_basis", "must be one of consent, contract"),
    (('recipients = ["host", "mailer"]', 'recipients = ["ovh"]'), "processing.customers.recipients",
     "unknown recipient 'ovh'"),
    (('sources = ["shop"]', 'sources = ["shop", "crm"]'), "processing.customers.sources",
     "unknown source 'crm'"),
    (('sources = ["shop"]', 'sources = []'), "processing", "no processing uses source 'shop'"),
    (('retention = "5 ans après la fin du contrat"\n', ''), "processing.customers.retention",
     "missing"),
]


@pytest.mark.parametrize(("change", "key", "words"), REGISTER_FAULTS,
                         ids=[f[1] + "-" + f[2][:12] for f in REGISTER_FAULTS])
def test_a_bad_register_names_the_file_the_key_and_the_fault(config_args, change, key, words):
    tmp_path = config_args[0]
    write_config(tmp_path, {"shop": SHOP_SOURCE})
    path = tmp_path / "register.toml"
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    fault = fault_of(*config_args)
    assert (fault.file, fault.key) == (str(path), key)
    assert words in fault.fault


def test_sources_without_a_register_are_refused(config_args):
    tmp_path = config_args[0]
    write_config(tmp_path, {"shop": SHOP_SOURCE})
    (tmp_path / "register.toml").unlink()
    assert "records of processing" in fault_of(*config_args).fault


def test_no_sources_file_means_nothing_to_search(config_args):
    app = make_app(*config_args)
    assert app.extensions["dsar_catalog"].sources == {}
    dispose(app)


def test_dsar_init_stops_on_a_bad_file_with_one_line_and_no_traceback(tmp_path, key_file):
    write_config(tmp_path, {"shop": SHOP_SOURCE})
    path = tmp_path / "sources.toml"
    path.write_text(path.read_text().replace('erasure = "anonymize"', 'erasure = "remove"'))
    env = {**os.environ, "DSAR_SOURCES_FILE": str(path),
           "DSAR_REGISTER_FILE": str(tmp_path / "register.toml"),
           "DSAR_DATABASE_URL": f"sqlite:///{tmp_path / 'init.sqlite'}",
           "DSAR_MASTER_KEY_FILE": key_file, "DSAR_STORAGE_DIR": str(tmp_path / "storage")}
    done = subprocess.run([sys.executable, "-m", "dsar", "init"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert (f"Error: {path}: sources.shop.collections.customers.erasure: must be one of "
            "delete, anonymize, retain (got 'remove')") in done.stderr
    assert not (tmp_path / "init.sqlite").exists()



def test_field_labels_name_declared_fields_only(tmp_path):
    """``field_labels`` put a field's name in words, by language; a label for a field the
    collection does not declare is a mistake, named with its place in the file."""
    from dsar.sources.config import load_sources
    from dsar.sources.sql import SqlConnector

    text = """
[sources.shop]
kind = "sql"
url = "sqlite:///shop.sqlite"
[sources.shop.collections.customers]
table = "customers"
match = { email = "email" }
erasure = "delete"
field_labels = { email = "Adresse électronique" }
field_labels_en = { email = "E-mail address" }
[sources.shop.collections.customers.fields]
email = "contact"
name = "identification"
"""
    path = tmp_path / "sources.toml"
    path.write_text(text)
    customers = load_sources(path, {"sql": SqlConnector}, tmp_path)["shop"].collections["customers"]
    assert customers.field_label("email", "fr") == "Adresse électronique"
    assert customers.field_label("email", "en") == "E-mail address"
    assert customers.field_label("name", "fr") == "name"  # none given: the name, as written
    path.write_text(text.replace('field_labels = { email', 'field_labels = { mail'))
    with pytest.raises(SourceConfigError, match="field_labels.mail"):
        load_sources(path, {"sql": SqlConnector}, tmp_path)
