import pytest

from gnn_unlearn.options import (check_distinct, check_output_folder, check_results_name, deleted_set_positions,
                                 load_datasets, load_graph, shares, table_methods, whole_numbers)


def test_check_distinct_names_the_repeat_and_what_it_repeats():
    check_distinct("--encoders", ["gcn", "gat"])
    with pytest.raises(ValueError, match="--encoders: 'gcn' is given twice; give each once"):
        check_distinct("--encoders", ["gcn", "gat", "gcn"])
    with pytest.raises(ValueError, match="--sizes: '0.05' and '0.050' are the same"):
        check_distinct("--sizes", ["0.05", "0.050"], [0.05, 0.05])


def test_whole_numbers_refuses_non_numbers_small_numbers_and_repeats():
    assert whole_numbers("--dims", "64,128", "64,128") == [64, 128]
    assert whole_numbers("--seeds", "0,2", "0,1", minimum=0) == [0, 2]
    assert whole_numbers("--fanouts", "5,5", "5,5", distinct=False) == [5, 5]
    for text, says in (("64,x", "--dims entry 'x'"), ("0", "--dims entry '0': give whole numbers >= 1"),
                       ("", "--dims entry ''"), ("64,64", "--dims: 64 is given twice")):
        with pytest.raises(ValueError, match=says):
            whole_numbers("--dims", text, "64,128")


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    check_output_folder(str(tmp_path))
    check_output_folder(str(tmp_path / "not yet made"))
    (tmp_path / "taken").write_text("")
    with pytest.raises(ValueError, match="--output .* is a file; give a folder"):
        check_output_folder(str(tmp_path / "taken"))


def test_load_datasets_refuses_unknown_repeated_and_missing_before_loading_the_rest(tmp_path):
    graphs = load_datasets(["synthetic"])
    assert list(graphs) == ["synthetic"] and graphs["synthetic"].num_nodes > 0
    with pytest.raises(ValueError, match="--datasets: unknown dataset 'nosuch'"):
        load_datasets(["synthetic", "nosuch"])
    with pytest.raises(ValueError, match="--datasets: 'Cora' and 'cora' are the same"):
        load_datasets(["Cora", "cora"])
    with pytest.raises(ValueError, match="--mirror .* is not a folder"):
        load_datasets(["Cora"], mirror=str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="--datasets: lastfm: missing raw files"):   # never downloaded
        load_datasets(["lastfm"], root=str(tmp_path / "cache"), mirror=str(empty))


def test_load_graph_takes_a_name_or_synthetic_n():
    assert load_graph("synthetic:50").num_nodes == 50
    for spec, says in (("synthetic:abc", "synthetic:N needs a whole number of nodes"),
                       ("synthetic:0", "synthetic:N needs a whole number of nodes"),
                       ("nosuch", "--dataset: unknown dataset 'nosuch'")):
        with pytest.raises(ValueError, match=says):
            load_graph(spec)


def test_table_methods_refuse_retrain_reference_and_methods_of_another_task():
    assert table_methods(["gnndelete", "d2dgn"], "link") == ["gnndelete", "d2dgn"]
    assert table_methods(["reverse_bpr+ref"], "rec", reference=True) == ["reverse_bpr+ref"]
    for names, task, says in ((["retrain", "d2dgn"], "link", "--methods: leave out 'retrain'"),
                              (["d2dgn+ref"], "link", "drop the '\\+ref' suffix"),
                              (["gnndelete"], "rec", "--methods: .*does not serve rec models"),
                              (["nosuch"], "node", "--methods: unknown method 'nosuch'")):
        with pytest.raises(ValueError, match=says):
            table_methods(names, task)


def test_an_empty_results_name_is_refused():
    check_results_name("grid")
    with pytest.raises(ValueError, match="--name must not be empty"):
        check_results_name("")


def test_deleted_set_positions_are_parsed_and_distinct():
    assert deleted_set_positions(["in", "worst:high_degree"]) == [("in", None), ("worst", "high_degree")]
    with pytest.raises(ValueError, match="--wheres: unknown where 'inn'"):
        deleted_set_positions(["in", "inn"])
    with pytest.raises(ValueError, match="--wheres: 'worst' and 'worst:confidence' are the same"):
        deleted_set_positions(["worst", "worst:confidence"])


def test_a_results_name_with_a_folder_is_refused_where_folders_are_not_taken():
    check_results_name("a/b")
    for name in ("a/b", "..", "."):
        with pytest.raises(ValueError, match="give a file name without a folder"):
            check_results_name(name, folders=False)


def test_shares_are_in_range_numbers_and_distinct():
    assert shares("--sizes", "0.005,0.025", "of the training edges", "0.005") == [0.005, 0.025]
    assert shares("--fractions", "0.5,1", "of the set", "1.0", include_one=True) == [0.5, 1.0]
    for text, says in (("0.1,abc", "--sizes entry 'abc': give shares of the training edges in \\(0, 1\\)"),
                       ("1", "--sizes entry '1'"), ("nan", "--sizes entry 'nan'"), ("0", "--sizes entry '0'"),
                       ("0.05,0.050", "--sizes: '0.05' and '0.050' are the same")):
        with pytest.raises(ValueError, match=says):
            shares("--sizes", text, "of the training edges", "0.005")
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        shares("--fractions", "1.5", "of the set", "1.0", include_one=True)
