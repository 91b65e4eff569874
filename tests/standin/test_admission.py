"""Unit tests of hack.standin.admission against a small test CRD (tests/standin/data/widgets-crd.yaml)."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest
import yaml

from hack.standin.admission import FieldError, admit, status_message

DATA = pathlib.Path(__file__).parent / 'data'
CRD: dict[str, Any] = yaml.safe_load((DATA / 'widgets-crd.yaml').read_text())


def widget(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {'machineId': 3, 'clusterName': 'c1'}
    base.update(spec)
    return {'apiVersion': 'test.standin.io/v1', 'kind': 'Widget',
            'metadata': {'name': 'w1', 'namespace': 'default'}, 'spec': base}


def fields(errors: list[FieldError]) -> dict[str, str]:
    return {e.field: e.message for e in errors}


def test_valid_object_is_defaulted_and_pruned() -> None:
    obj = widget(nodes=[{'name': 'node1', 'address': '10.0.0.1', 'junk': 1}], bogus=True, ratio=1,
                 extra={'anything': {'goes': 1}})
    obj['metadata']['labels'] = {'kept': 'yes'}
    obj['topLevelJunk'] = 1
    out, errors = admit(CRD, obj)
    assert errors == []
    assert out['spec']['mode'] == 'active'  # default
    # pruned + nested default:
    assert out['spec']['nodes'] == [{'name': 'node1', 'address': '10.0.0.1', 'weight': 1}]
    assert 'bogus' not in out['spec'] and 'topLevelJunk' not in out
    assert out['spec']['extra'] == {'anything': {'goes': 1}}  # preserve-unknown-fields
    assert out['metadata']['labels'] == {'kept': 'yes'}  # metadata is never pruned
    assert obj['spec']['bogus'] is True  # pure: the input is not mutated


def test_absent_list_gets_its_default() -> None:
    out, errors = admit(CRD, widget())
    assert errors == [] and out['spec']['nodes'] == []


@pytest.mark.parametrize(('spec', 'field', 'message'), [
    ({'machineId': 0}, 'spec.machineId',
     'Invalid value: 0: spec.machineId in body should be greater than or equal to 1'),
    ({'machineId': 11}, 'spec.machineId',
     'Invalid value: 11: spec.machineId in body should be less than or equal to 10'),
    ({'machineId': 'x'}, 'spec.machineId',
     'Invalid value: "string": spec.machineId in body must be of type integer: "string"'),
    ({'mode': 'eager'}, 'spec.mode', 'Unsupported value: "eager": supported values: "active", "standby"'),
    ({'clusterName': 'Bad_Name'}, 'spec.clusterName',
     "Invalid value: \"Bad_Name\": spec.clusterName in body should match '^[a-z][a-z0-9-]*$'"),
    ({'clusterName': 'a' * 13}, 'spec.clusterName', 'Too long: may not be more than 12 bytes'),
    ({'ratio': 0}, 'spec.ratio', 'Invalid value: 0: spec.ratio in body should be greater than 0'),
    ({'ratio': 2.5}, 'spec.ratio', 'Invalid value: "number": ratio must stay below 2'),
    ({'vip': '10.0.0.300', 'nodes': [{'name': 'node1', 'address': '10.0.0.1'},
                                     {'name': 'node2', 'address': '10.0.0.2'}]},
     'spec.vip', 'Invalid value: "10.0.0.300": spec.vip in body must be of type ipv4: "10.0.0.300"'),
    ({'port': 1.5}, 'spec.port',
     'Invalid value: "number": spec.port in body must be of type integer or string: "number"'),
    ({'tags': ['a', 'b', 'a']}, 'spec.tags[2]', 'Duplicate value: "a"'),
    ({'labels': {'k': 'toolong'}}, 'spec.labels[k]', 'Too long: may not be more than 5 bytes'),
])
def test_schema_violations_name_the_field(spec: dict[str, Any], field: str, message: str) -> None:
    _, errors = admit(CRD, widget(**spec))
    assert fields(errors) == {field: message}


def test_required_fields_and_list_items() -> None:
    obj = widget(nodes=[{'name': 'node1', 'address': '10.0.0.1'}, {'name': 'node2'},
                        {'name': 'node1', 'address': 'nope'}])
    del obj['spec']['clusterName']
    _, errors = admit(CRD, obj)
    assert fields(errors) == {
        'spec.clusterName': 'Required value',
        'spec.nodes[1].address': 'Required value',
        'spec.nodes[2].address':
            'Invalid value: "nope": spec.nodes[2].address in body must be of type ipv4: "nope"',
        'spec.nodes[2]': 'Duplicate value: {"name":"node1"}',
    }


def test_too_many_items() -> None:
    nodes = [{'name': f'node{i}', 'address': f'10.0.0.{i}'} for i in range(1, 5)]
    _, errors = admit(CRD, widget(nodes=nodes))
    assert fields(errors) == {'spec.nodes': 'Too many: 4: must have at most 3 items'}


def test_cel_rules_with_has_size_all_matches_and_field_path() -> None:
    _, errors = admit(CRD, widget(vip='10.0.0.9', nodes=[{'name': 'bad', 'address': '10.0.0.1'}]))
    assert fields(errors) == {
        'spec.vip': 'Invalid value: "object": a vip needs at least two nodes',
        'spec.nodes': 'Invalid value: "array": node names look like nodeN',
    }


def test_cel_message_expression_and_reason() -> None:
    nodes = [{'name': 'node1', 'address': '10.0.0.1', 'primary': True},
             {'name': 'node2', 'address': '10.0.0.2', 'primary': True}]
    _, errors = admit(CRD, widget(nodes=nodes))
    assert fields(errors) == {'spec': 'Forbidden: at most one primary node, got 2'}


def test_root_rule_sees_metadata() -> None:
    obj = widget()
    obj['metadata']['name'] = 'x' * 21
    _, errors = admit(CRD, obj)
    assert fields(errors) == {'': 'Invalid value: "object": name too long'}


def test_transition_rules_run_only_on_update() -> None:
    old, errors = admit(CRD, widget(nodes=[{'name': 'node1', 'address': '10.0.0.1', 'weight': 5}]))
    assert errors == []
    new = copy.deepcopy(old)
    new['spec']['clusterName'] = 'c2'
    new['spec']['nodes'][0]['weight'] = 2
    _, errors = admit(CRD, new)  # a create: no oldSelf, transition rules are skipped
    assert errors == []
    _, errors = admit(CRD, new, old)
    assert fields(errors) == {
        'spec.clusterName': 'Invalid value: "string": clusterName is immutable',
        'spec.nodes[0].weight': 'Invalid value: "integer": weight may only grow',
    }


def test_transition_rule_skips_items_without_old_counterpart() -> None:
    old, _ = admit(CRD, widget(nodes=[{'name': 'node1', 'address': '10.0.0.1', 'weight': 5}]))
    new = copy.deepcopy(old)
    new['spec']['nodes'] = [{'name': 'node2', 'address': '10.0.0.2', 'weight': 1}, old['spec']['nodes'][0]]
    _, errors = admit(CRD, new, old)
    assert errors == []  # node2 is new (no oldSelf); node1 is correlated by its key and unchanged


def test_status_message_like_the_api_server() -> None:
    _, errors = admit(CRD, widget(machineId=0))
    assert status_message('Widget', 'test.standin.io', 'w1', errors) == (
        'Widget.test.standin.io "w1" is invalid: '
        'spec.machineId: Invalid value: 0: spec.machineId in body should be greater than or equal to 1')
