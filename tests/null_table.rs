//! BI01, exhaustively: NULL for every handle and out-pointer of every exported function,
//! derived from `include/cfutures.h`.
//!
//! The test parses every prototype of the header, classifies each parameter by its C type
//! ([`TYPE_RULES`]) and generates a C program (in `CARGO_TARGET_TMPDIR`) with, for each
//! function:
//! - a control call with every argument valid (the fixture of `tests/null_table/fixture.h`),
//!   which must not give the failure value: it proves NULL is the only thing wrong in the
//!   cases that follow;
//! - for each pointer parameter, a call with NULL there and valid values everywhere else. It
//!   must give the failure value of the return type ([`RETURN_RULES`]: `CF_INVALID_ARGUMENT`,
//!   NULL, false, 0) and set `cf_last_error()` to a new message naming the parameter, unless
//!   the function's entry in [`FUNCS`] says the header documents NULL as valid there: then the
//!   call must succeed (a `void` one must leave `cf_last_error()` alone);
//! - for a data pointer that may be NULL when its length is 0: NULL with length 1 (rejected)
//!   and NULL with length 0 (accepted).
//!
//! A new export without an entry in [`FUNCS`], a parameter type without a rule, or a `void`
//! function with a pointer it cannot reject fails the test with a message saying what rule to
//! add. The program prints one line per case; the test checks every function of the header
//! was visited and every case ran.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{
    collected, compile_ok, drain, dump_stacks, fail_hung, link_cfutures, program_command, report,
    watch, watchdog_limit, words,
};

/// Functions the header exported when this table was written: the test fails if it finds
/// fewer (a broken parser must not pass by finding nothing).
const MIN_FUNCTIONS: usize = 39;

/// How a parameter is treated, by its C type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Not a pointer: never NULL.
    Scalar,
    /// A handle the call works on.
    Handle,
    /// An array of handles, with a count.
    HandleArray,
    /// Where the call writes its result.
    OutPtr,
    /// Bytes the call reads, with a length.
    Data,
    /// A NUL-terminated string.
    Str,
    /// A function pointer (a task or a callback).
    Callback,
    /// Opaque user data, only handed back.
    UserData,
}

/// A parameter type (spelled as [`canonical`] prints it), its class, and the C expression of
/// a valid value (`fx` is the fixture of `tests/null_table/fixture.h`).
struct TypeRule {
    ty: &'static str,
    class: Class,
    valid: &'static str,
}

#[rustfmt::skip]
const TYPE_RULES: &[TypeRule] = &[
    // Handles.
    TypeRule { ty: "cf_executor *", class: Class::Handle, valid: "fx->ex" },
    TypeRule { ty: "cf_executor_options *", class: Class::Handle, valid: "fx->opts" },
    TypeRule { ty: "const cf_executor_options *", class: Class::Handle, valid: "fx->opts" },
    TypeRule { ty: "cf_future *", class: Class::Handle, valid: "fx->fut" },
    TypeRule { ty: "const cf_future *", class: Class::Handle, valid: "fx->fut" },
    TypeRule { ty: "cf_map_iter *", class: Class::Handle, valid: "fx->map_it" },
    TypeRule { ty: "const cf_map_iter *", class: Class::Handle, valid: "fx->map_it" },
    TypeRule { ty: "cf_as_completed *", class: Class::Handle, valid: "fx->ac_it" },
    // Exists only inside a task: cases with one run in a task.
    TypeRule { ty: "cf_out *", class: Class::Handle, valid: "fx->out" },
    TypeRule { ty: "cf_future *const *", class: Class::HandleArray, valid: "fx->futs" },
    // Out-pointers.
    TypeRule { ty: "cf_future **", class: Class::OutPtr, valid: "&fx->o_future" },
    TypeRule { ty: "cf_map_iter **", class: Class::OutPtr, valid: "&fx->o_map" },
    TypeRule { ty: "cf_as_completed **", class: Class::OutPtr, valid: "&fx->o_ac" },
    TypeRule { ty: "const void **", class: Class::OutPtr, valid: "&fx->o_data" },
    TypeRule { ty: "size_t *", class: Class::OutPtr, valid: "&fx->o_size" },
    TypeRule { ty: "bool *", class: Class::OutPtr, valid: "fx->o_flags" },
    // Data, strings, functions, user data.
    TypeRule { ty: "const void *", class: Class::Data, valid: "fx->buf" },
    TypeRule { ty: "const char *", class: Class::Str, valid: "\"nt\"" },
    TypeRule { ty: "cf_task_fn", class: Class::Callback, valid: "nt_task_noop" },
    TypeRule { ty: "cf_done_callback", class: Class::Callback, valid: "nt_callback" },
    TypeRule { ty: "void *", class: Class::UserData, valid: "&fx->user" },
    // Scalars. Every size_t is 1: a length within fx->buf, a count of fx->futs, one item,
    // chunksize 1. Timeouts 0 never wait.
    TypeRule { ty: "bool", class: Class::Scalar, valid: "false" },
    TypeRule { ty: "size_t", class: Class::Scalar, valid: "1" },
    TypeRule { ty: "double", class: Class::Scalar, valid: "0.0" },
    TypeRule { ty: "uint32_t", class: Class::Scalar, valid: "1" },
    TypeRule { ty: "uint64_t", class: Class::Scalar, valid: "1" },
    TypeRule { ty: "cf_status", class: Class::Scalar, valid: "CF_OK" },
    TypeRule { ty: "cf_executor_kind", class: Class::Scalar, valid: "CF_THREAD_POOL" },
    TypeRule { ty: "cf_start_method", class: Class::Scalar, valid: "CF_START_FORKSERVER" },
    TypeRule { ty: "cf_return_when", class: Class::Scalar, valid: "CF_ALL_COMPLETED" },
];

/// A return type: C conditions on the result `r` for the failure value and for success, how
/// to print `r`, and how to release it. The header's convention: `CF_INVALID_ARGUMENT`, or
/// false, 0 or NULL for getters.
struct ReturnRule {
    ty: &'static str,
    failure: &'static str,
    failure_text: &'static str,
    success: &'static str,
    show: (&'static str, &'static str),
    release: &'static str,
}

const RETURN_RULES: &[ReturnRule] = &[
    ReturnRule {
        ty: "cf_status",
        failure: "(int)r == (int)CF_INVALID_ARGUMENT",
        failure_text: "CF_INVALID_ARGUMENT",
        success: "(int)r == (int)CF_OK",
        show: ("%s", "cf_status_str(r)"),
        release: "",
    },
    ReturnRule {
        ty: "cf_executor *",
        failure: "r == NULL",
        failure_text: "NULL",
        success: "r != NULL",
        show: ("%p", "(void *)r"),
        release: "cf_executor_free(r);",
    },
    ReturnRule {
        ty: "cf_executor_options *",
        failure: "r == NULL",
        failure_text: "NULL",
        success: "r != NULL",
        show: ("%p", "(void *)r"),
        release: "cf_executor_options_free(r);",
    },
    ReturnRule {
        ty: "cf_future *",
        failure: "r == NULL",
        failure_text: "NULL",
        success: "r != NULL",
        show: ("%p", "(void *)r"),
        release: "cf_future_free(r);",
    },
    ReturnRule {
        ty: "const char *",
        failure: "r == NULL",
        failure_text: "NULL",
        success: "r != NULL",
        show: ("%p", "(const void *)r"),
        release: "",
    },
    // cf_out_alloc: the buffer belongs to cfutures.
    ReturnRule {
        ty: "void *",
        failure: "r == NULL",
        failure_text: "NULL",
        success: "r != NULL",
        show: ("%p", "r"),
        release: "",
    },
    ReturnRule {
        ty: "bool",
        failure: "r == false",
        failure_text: "false",
        success: "r != false",
        show: ("%d", "(int)r"),
        release: "",
    },
    ReturnRule {
        ty: "int",
        failure: "r == 0",
        failure_text: "0",
        success: "r != 0",
        show: ("%d", "r"),
        release: "",
    },
];

/// When NULL is valid for a parameter.
#[derive(Clone, Copy, Debug)]
enum When {
    Always,
    /// When the named length parameter is 0 (NULL with length 1 is still rejected).
    LenZero(&'static str),
}

/// A parameter for which the header documents NULL as valid, and its words for why.
struct NullOk {
    param: &'static str,
    when: When,
    reason: &'static str,
}

/// One exported function: where NULL is valid (the allow-list), and, when a call with every
/// argument valid gives the failure value too, why (its control then only checks that it
/// returns).
struct Func {
    name: &'static str,
    null_ok: &'static [NullOk],
    same_when_valid: Option<&'static str>,
}

const fn func(name: &'static str) -> Func {
    Func {
        name,
        null_ok: &[],
        same_when_valid: None,
    }
}

const fn allow(name: &'static str, null_ok: &'static [NullOk]) -> Func {
    Func {
        name,
        null_ok,
        same_when_valid: None,
    }
}

const fn same(name: &'static str, why: &'static str) -> Func {
    Func {
        name,
        null_ok: &[],
        same_when_valid: Some(why),
    }
}

const fn always(param: &'static str, reason: &'static str) -> NullOk {
    NullOk {
        param,
        when: When::Always,
        reason,
    }
}

const fn len_zero(param: &'static str, len: &'static str, reason: &'static str) -> NullOk {
    NullOk {
        param,
        when: When::LenZero(len),
        reason,
    }
}

const NO_OP: &str = "NULL is a no-op";

/// Every exported function. Entries without an allow-list reject NULL in every pointer.
#[rustfmt::skip]
const FUNCS: &[Func] = &[
    func("cf_last_error"),
    func("cf_status_str"),
    func("cf_version"),
    allow("cf_executor_new", &[always("opts", "NULL opts means the defaults")]),
    allow("cf_submit", &[len_zero("arg", "arg_len", "arg may be NULL when arg_len is 0")]),
    func("cf_executor_shutdown"),
    allow("cf_executor_free", &[always("ex", NO_OP)]),
    same(
        "cf_executor_terminate_workers",
        "the fixture is a thread pool, which rejects it with CF_INVALID_ARGUMENT too",
    ),
    same(
        "cf_executor_kill_workers",
        "the fixture is a thread pool, which rejects it with CF_INVALID_ARGUMENT too",
    ),
    func("cf_future_result"),
    func("cf_future_exception"),
    func("cf_future_error_code"),
    func("cf_future_error_message"),
    same("cf_future_cancel", "the fixture's future is done: cancel gives false"),
    same("cf_future_cancelled", "the fixture's future failed: not cancelled"),
    same("cf_future_running", "the fixture's future is done: not running"),
    func("cf_future_done"),
    allow(
        "cf_future_add_done_callback",
        &[always("user_data", "user_data is only handed back to the callback")],
    ),
    func("cf_future_retain"),
    allow("cf_future_free", &[always("f", NO_OP)]),
    allow("cf_map", &[len_zero("args", "arg_len", "args may be NULL when n * arg_len is 0")]),
    func("cf_map_next"),
    func("cf_map_error_code"),
    allow("cf_map_free", &[always("it", NO_OP)]),
    func("cf_executor_options_new"),
    allow("cf_executor_options_free", &[always("opts", NO_OP)]),
    allow(
        "cf_executor_options_set_thread_name_prefix",
        &[always("prefix", "NULL restores the default prefix")],
    ),
    allow(
        "cf_executor_options_set_initializer",
        &[
            always("fn", "NULL fn removes the initializer"),
            len_zero("initargs", "initargs_len", "initargs may be NULL when initargs_len is 0"),
        ],
    ),
    func("cf_executor_options_set_start_method"),
    func("cf_executor_options_set_max_tasks_per_child"),
    func("cf_executor_options_set_task_timeout"),
    allow(
        "cf_executor_options_set_worker_path",
        &[always("path", "NULL restores the default search for cf-worker")],
    ),
    allow("cf_out_set", &[len_zero("data", "len", "data may be NULL when len is 0")]),
    func("cf_out_alloc"),
    allow("cf_out_fail", &[always("message", "NULL gives the message \"task failed\"")]),
    allow(
        "cf_wait",
        &[
            len_zero("fs", "n", "fs may be NULL when n is 0"),
            always("done", "done is optional"),
            always("n_done", "n_done is optional"),
        ],
    ),
    allow("cf_as_completed_new", &[len_zero("fs", "n", "fs may be NULL when n is 0")]),
    allow("cf_as_completed_next", &[always("index", "index is optional")]),
    allow("cf_as_completed_free", &[always("it", NO_OP)]),
];

/// A parameter of a prototype.
#[derive(Debug, Clone)]
struct Param {
    ty: String,
    name: String,
}

/// A prototype of the header.
#[derive(Debug, Clone)]
struct Proto {
    ret: String,
    /// The return type as written (to declare the result variable).
    ret_c: String,
    name: String,
    params: Vec<Param>,
}

/// Removes `/* */` and `//` comments.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            match s[i + 2..].find("*/") {
                Some(end) => i += 2 + end + 2,
                None => break,
            }
            out.push(' ');
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else {
            let c = s[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Identifiers and `*` of a declaration.
fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            cur.push(c);
            continue;
        }
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        match c {
            '*' => out.push("*".into()),
            c if c.is_whitespace() => {}
            c => return Err(format!("unexpected `{c}` in `{}`", s.trim())),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// A type's tokens spelled one way: `struct`/`enum` dropped, `T *const *`.
fn canonical(toks: &[String]) -> String {
    let mut s = String::new();
    let mut prev_star = false;
    for t in toks.iter().filter(|t| *t != "struct" && *t != "enum") {
        if t == "*" {
            if !prev_star && !s.is_empty() {
                s.push(' ');
            }
            s.push('*');
            prev_star = true;
        } else {
            if !s.is_empty() && !prev_star {
                s.push(' ');
            }
            s.push_str(t);
            prev_star = false;
        }
    }
    s
}

fn is_ident(t: &str) -> bool {
    t != "*"
        && t.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// Every function prototype of a cbindgen header. Anything that is not a typedef, a
/// preprocessor line or a prototype it can read is an error.
fn parse_header(text: &str) -> Result<Vec<Proto>, String> {
    let text = strip_comments(text);
    let body: String = text
        .lines()
        .filter(|l| {
            let t = l.trim();
            !t.starts_with('#') && t != "}"
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("extern \"C\" {", " ");
    let mut protos = Vec::new();
    for decl in body.split(';') {
        let decl = decl.split_whitespace().collect::<Vec<_>>().join(" ");
        if decl.is_empty() || decl.starts_with("typedef ") {
            continue;
        }
        let (Some(open), true) = (decl.find('('), decl.ends_with(')')) else {
            return Err(format!(
                "not a function prototype: `{decl}`; teach tests/null_table.rs to read it"
            ));
        };
        let inner = &decl[open + 1..decl.len() - 1];
        if inner.contains('(') || inner.contains(')') {
            return Err(format!(
                "a parameter of `{decl}` is not a plain type: use a typedef, or teach \
                 tests/null_table.rs to read it"
            ));
        }
        let head = tokens(&decl[..open])?;
        let (Some(name), true) = (head.last(), head.len() >= 2) else {
            return Err(format!("no return type or name in `{decl}`"));
        };
        if !is_ident(name) {
            return Err(format!("no function name in `{decl}`"));
        }
        let ret_toks = &head[..head.len() - 1];
        let mut params = Vec::new();
        if inner.trim() != "void" {
            for p in inner.split(',') {
                let toks = tokens(p)?;
                let (Some(pname), true) = (toks.last(), toks.len() >= 2) else {
                    return Err(format!("parameter `{}` of {name} has no name", p.trim()));
                };
                if !is_ident(pname) {
                    return Err(format!("parameter `{}` of {name} has no name", p.trim()));
                }
                params.push(Param {
                    ty: canonical(&toks[..toks.len() - 1]),
                    name: pname.clone(),
                });
            }
        }
        protos.push(Proto {
            ret: canonical(ret_toks),
            ret_c: ret_toks.join(" "),
            name: name.clone(),
            params,
        });
    }
    Ok(protos)
}

/// What a case expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Every argument valid: not the failure value (unless the table says why it is).
    Control,
    /// NULL rejected: the failure value and a new message naming the parameter.
    Reject,
    /// NULL documented as valid: success (`void`: cf_last_error() untouched).
    Accept,
}

/// One generated call.
#[derive(Debug)]
struct Case {
    func: String,
    /// The argument expressions.
    args: Vec<String>,
    /// The NULL parameter (None for the control).
    null_param: Option<String>,
    expect: Expect,
    in_task: bool,
    what: String,
}

/// The cases for the header's prototypes, or every reason they cannot be made.
fn plan(protos: &[Proto]) -> Result<Vec<Case>, Vec<String>> {
    let mut errors = Vec::new();
    let mut cases = Vec::new();
    let names: BTreeSet<&str> = protos.iter().map(|p| p.name.as_str()).collect();
    for f in FUNCS {
        if !names.contains(f.name) {
            errors.push(format!(
                "{} is in FUNCS (tests/null_table.rs) but not in include/cfutures.h: remove it",
                f.name
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for p in protos {
        if !seen.insert(p.name.as_str()) {
            errors.push(format!("{} is declared twice", p.name));
            continue;
        }
        if !p.name.starts_with("cf_") {
            errors.push(format!("{} is exported without the cf_ prefix", p.name));
        }
        let Some(entry) = FUNCS.iter().find(|f| f.name == p.name) else {
            errors.push(format!(
                "{} is exported by include/cfutures.h but has no entry in FUNCS in \
                 tests/null_table.rs: add one, listing the pointer parameters for which the \
                 header documents NULL as valid (with the reason); every other pointer must \
                 give the failure value",
                p.name
            ));
            continue;
        };
        match plan_function(p, entry) {
            Ok(mut c) => cases.append(&mut c),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

fn plan_function(p: &Proto, entry: &Func) -> Result<Vec<Case>, Vec<String>> {
    let mut errors = Vec::new();
    let void = p.ret == "void";
    if !void && !RETURN_RULES.iter().any(|r| r.ty == p.ret) {
        errors.push(format!(
            "{}: no rule for the return type `{}`: add one to RETURN_RULES in \
             tests/null_table.rs (its failure value, how to release it)",
            p.name, p.ret
        ));
    }
    let mut rules = Vec::new();
    for q in &p.params {
        match TYPE_RULES.iter().find(|r| r.ty == q.ty) {
            Some(r) => rules.push(r),
            None => errors.push(format!(
                "{}: no rule for the type `{}` of parameter `{}`: add one to TYPE_RULES in \
                 tests/null_table.rs (its class and a valid value)",
                p.name, q.ty, q.name
            )),
        }
    }
    for ok in entry.null_ok {
        let Some(i) = p.params.iter().position(|q| q.name == ok.param) else {
            errors.push(format!(
                "{}: the allow-list names `{}`, which is not a parameter",
                p.name, ok.param
            ));
            continue;
        };
        if rules.get(i).is_some_and(|r| r.class == Class::Scalar) {
            errors.push(format!("{}: `{}` is not a pointer", p.name, ok.param));
        }
        if let When::LenZero(len) = ok.when {
            if !p.params.iter().any(|q| q.name == len && q.ty == "size_t") {
                errors.push(format!("{}: `{len}` is not a size_t parameter", p.name));
            }
        }
    }
    if void && entry.same_when_valid.is_some() {
        errors.push(format!(
            "{}: returns void; same_when_valid means nothing",
            p.name
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let valid: Vec<String> = rules.iter().map(|r| r.valid.to_string()).collect();
    let in_task = rules.iter().any(|r| r.ty == "cf_out *");
    let mut cases = Vec::new();
    if !void {
        // A void function's only effect may be on the fixture (cf_executor_free(fx->ex)).
        cases.push(Case {
            func: p.name.clone(),
            what: "all valid".into(),
            args: valid.clone(),
            null_param: None,
            expect: Expect::Control,
            in_task,
        });
    }
    for (i, (q, r)) in p.params.iter().zip(&rules).enumerate() {
        if r.class == Class::Scalar {
            continue;
        }
        let mut args = valid.clone();
        args[i] = "NULL".into();
        let ok = entry.null_ok.iter().find(|o| o.param == q.name);
        match ok.map(|o| o.when) {
            Some(When::Always) => cases.push(Case {
                func: p.name.clone(),
                what: format!("{}=NULL (valid: {})", q.name, ok.unwrap().reason),
                args,
                null_param: Some(q.name.clone()),
                expect: Expect::Accept,
                in_task,
            }),
            other => {
                if void {
                    errors.push(format!(
                        "{}: returns void, so it cannot report a NULL `{}`: document NULL as \
                         a no-op (and add it to the allow-list in FUNCS) or return a status",
                        p.name, q.name
                    ));
                    continue;
                }
                cases.push(Case {
                    func: p.name.clone(),
                    what: format!("{}=NULL", q.name),
                    args: args.clone(),
                    null_param: Some(q.name.clone()),
                    expect: Expect::Reject,
                    in_task,
                });
                if let Some(When::LenZero(len)) = other {
                    let li = p
                        .params
                        .iter()
                        .position(|q| q.name == len)
                        .expect("checked");
                    args[li] = "0".into();
                    cases.push(Case {
                        func: p.name.clone(),
                        what: format!("{}=NULL {len}=0 (valid: {})", q.name, ok.unwrap().reason),
                        args,
                        null_param: Some(q.name.clone()),
                        expect: Expect::Accept,
                        in_task,
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

/// A C string literal for `s` (no quotes or backslashes are expected, but escape them).
fn c_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The C program: fixture.h, one function per case, the table, main.
fn generate(protos: &[Proto], cases: &[Case]) -> String {
    let mut c = String::new();
    c.push_str(
        "/* Generated by tests/null_table.rs from include/cfutures.h: do not edit. */\n\
         #include \"fixture.h\"\n\n",
    );
    for (k, case) in cases.iter().enumerate() {
        let p = protos
            .iter()
            .find(|p| p.name == case.func)
            .expect("planned from protos");
        let entry = FUNCS.iter().find(|f| f.name == case.func).expect("planned");
        let call = format!("{}({})", p.name, case.args.join(", "));
        let _ = writeln!(c, "/* {k}: {} with {} */", case.func, case.what);
        let _ = writeln!(c, "static void nt_case_{k}(struct fx *fx) {{");
        c.push_str("    (void)fx;\n    nt_sentinel();\n");
        if p.ret == "void" {
            let _ = writeln!(c, "    {call};");
            // Only Accept cases exist for void functions.
            c.push_str("    nt_error_untouched();\n");
        } else {
            let rule = RETURN_RULES
                .iter()
                .find(|r| r.ty == p.ret)
                .expect("planned");
            let _ = writeln!(c, "    {{\n        {} r = {call};", p.ret_c);
            let (fmt, val) = rule.show;
            match case.expect {
                Expect::Control => {
                    if let Some(why) = entry.same_when_valid {
                        let _ = writeln!(c, "        /* Not checked: {why}. */\n        (void)r;");
                    } else {
                        let _ = writeln!(
                            c,
                            "        if ({}) nt_fail(\"valid arguments gave the failure value {}\");",
                            rule.failure, rule.failure_text
                        );
                    }
                }
                Expect::Reject => {
                    let _ = writeln!(
                        c,
                        "        if (!({})) nt_fail(\"returned {fmt}, expected {}\", {val});",
                        rule.failure, rule.failure_text
                    );
                }
                Expect::Accept => {
                    let _ = writeln!(
                        c,
                        "        if (!({})) nt_fail(\"returned {fmt}, but NULL is valid here\", {val});",
                        rule.success
                    );
                }
            }
            if !rule.release.is_empty() {
                let _ = writeln!(c, "        if (r != NULL) {}", rule.release);
            }
            c.push_str("    }\n");
            if case.expect == Expect::Reject {
                let param = case.null_param.as_deref().expect("a NULL parameter");
                let _ = writeln!(c, "    nt_fresh_error({});", c_str(param));
            }
        }
        c.push_str("    fx_release_outs(fx);\n}\n\n");
    }
    c.push_str("static const struct nt_case nt_cases[] = {\n");
    for (k, case) in cases.iter().enumerate() {
        let _ = writeln!(
            c,
            "    {{nt_case_{k}, {}, {}, {}}},",
            case.in_task,
            c_str(&case.func),
            c_str(&case.what)
        );
    }
    c.push_str("};\n\n");
    c.push_str(
        "int main(void) {\n\
         \x20   cft_baseline base = cft_begin(\"null_table\");\n\
         \x20   size_t k, n = sizeof nt_cases / sizeof nt_cases[0];\n\
         \x20   for (k = 0; k < n; k++) nt_run(&nt_cases[k], k);\n\
         \x20   printf(\"null table: %zu cases\\n\", n);\n\
         \x20   CFT_END(base);\n\
         \x20   return 0;\n\
         }\n",
    );
    c
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn header_text() -> String {
    let path = repo().join("include").join("cfutures.h");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The cases for the real header, or a failure listing every rule to add.
fn planned() -> (Vec<Proto>, Vec<Case>) {
    let protos = parse_header(&header_text()).unwrap_or_else(|e| panic!("include/cfutures.h: {e}"));
    assert!(
        protos.len() >= MIN_FUNCTIONS,
        "found {} functions in include/cfutures.h, expected at least {MIN_FUNCTIONS}: is the \
         parser in tests/null_table.rs broken?",
        protos.len()
    );
    match plan(&protos) {
        Ok(cases) => (protos, cases),
        Err(errors) => panic!(
            "the NULL table does not cover include/cfutures.h:\n- {}",
            errors.join("\n- ")
        ),
    }
}

fn compile(src: &Path, exe: &Path) {
    let mut cc = words("CC");
    if cc.is_empty() {
        cc.push("gcc".into());
    }
    let mut cmd = Command::new(&cc[0]);
    cmd.args(&cc[1..])
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-O1",
            "-g",
            "-pthread",
        ])
        .arg(format!("-I{}", repo().join("include").display()))
        .arg(format!("-I{}", repo().join("tests").join("c").display()))
        .arg(format!(
            "-I{}",
            repo().join("tests").join("null_table").display()
        ))
        .args(words("CFTEST_CFLAGS"))
        .arg(src)
        .arg("-o")
        .arg(exe)
        .args(link_cfutures());
    compile_ok(&mut cmd, &src.display().to_string());
}

/// BI01: generates, compiles and runs the table; every function of the header is visited
/// and every case passes.
#[test]
fn null_table() {
    let (protos, cases) = planned();
    let dir: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("null-table")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).expect("create the output directory");
    let src = dir.join("null_table.c");
    let exe = dir.join("null_table");
    std::fs::write(&src, generate(&protos, &cases)).expect("write the generated program");
    compile(&src, &exe);

    let limit = watchdog_limit();
    let mut cmd = program_command(&exe);
    cmd.env("CFTEST_ALARM", (limit.as_secs() + 30).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let (status, hung) = watch(&mut child, "null_table", limit, |child| {
        let stacks = dump_stacks(child.id());
        let _ = child.kill();
        stacks
    });
    let (stdout, stderr) = (collected(out), collected(err));
    let rep = report("null_table", &status, &stdout, &stderr);
    if let Some(stacks) = hung {
        fail_hung("null_table", limit, &stacks, &rep);
    }
    if !status.success() {
        // The case after the last one that passed is the one that failed (or crashed).
        let passed = stdout.lines().filter(|l| l.starts_with("case ")).count();
        let at = cases.get(passed).map_or_else(
            || "after the last case".to_owned(),
            |c| format!("in case {passed}: {} with {}", c.func, c.what),
        );
        panic!(
            "the generated program failed {at} (source: {})\n{rep}",
            src.display()
        );
    }

    // Every case ran, in order, and every function of the header was visited.
    let mut ran = 0;
    let mut visited = BTreeSet::new();
    for line in stdout.lines().filter(|l| l.starts_with("case ")) {
        let mut w = line.split_whitespace().skip(1);
        let k: usize = w
            .next()
            .and_then(|k| k.parse().ok())
            .expect("a case number");
        assert_eq!(k, ran, "cases out of order\n{rep}");
        let func = w.next().expect("a function name");
        assert_eq!(
            func, cases[k].func,
            "case {k} is not the one generated\n{rep}"
        );
        visited.insert(func.to_owned());
        ran += 1;
    }
    assert_eq!(ran, cases.len(), "not every case ran\n{rep}");
    let all: BTreeSet<String> = protos.iter().map(|p| p.name.clone()).collect();
    let missed: Vec<&String> = all.difference(&visited).collect();
    assert!(
        missed.is_empty(),
        "functions never called: {missed:?}\n{rep}"
    );
    assert!(
        stdout.contains(&format!("null table: {} cases", cases.len())),
        "no summary line\n{rep}"
    );

    let rejects = cases.iter().filter(|c| c.expect == Expect::Reject).count();
    let accepts = cases.iter().filter(|c| c.expect == Expect::Accept).count();
    println!(
        "{} functions, {} cases: {} controls, {rejects} NULLs rejected, {accepts} NULLs valid",
        protos.len(),
        cases.len(),
        cases.len() - rejects - accepts
    );
    let _ = std::fs::remove_file(&exe);
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_dir(&dir);
}

/// The real header with `extra` added after its last prototype (before the closing
/// `#ifdef __cplusplus`).
fn header_with(extra: &str) -> String {
    let mut h = header_text();
    let at = h
        .rfind("#ifdef __cplusplus")
        .expect("the header closes its extern \"C\" block");
    h.insert_str(at, &format!("{extra}\n\n"));
    h
}

fn plan_errors(protos: &[Proto]) -> String {
    match plan(protos) {
        Ok(_) => panic!("planned a header that should have been refused"),
        Err(e) => e.join("\n"),
    }
}

/// The real header's prototypes, with `edit` applied to the one named `name`.
fn edited(name: &str, edit: impl FnOnce(&mut Proto)) -> Vec<Proto> {
    let mut protos = parse_header(&header_text()).expect("parses");
    edit(
        protos
            .iter_mut()
            .find(|p| p.name == name)
            .expect("in the header"),
    );
    protos
}

/// The point of the table: a new export without an entry fails, naming the fix.
#[test]
fn a_new_export_without_an_entry_fails() {
    let h =
        header_with("enum cf_status cf_future_frobnicate(struct cf_future *f,\n    int level);");
    assert!(
        h.contains("cf_future_frobnicate"),
        "the header's last prototype moved"
    );
    let e = plan_errors(&parse_header(&h).expect("parses"));
    assert!(
        e.contains("cf_future_frobnicate is exported") && e.contains("add one"),
        "{e}"
    );
}

/// A parameter or return type without a rule fails, naming the type.
#[test]
fn an_unknown_type_fails() {
    let e = plan_errors(&edited("cf_future_exception", |p| {
        p.params[1].ty = "const int *".into()
    }));
    assert!(e.contains("no rule for the type `const int *`"), "{e}");
    let e = plan_errors(&edited("cf_future_done", |p| p.ret = "long double".into()));
    assert!(
        e.contains("no rule for the return type `long double`"),
        "{e}"
    );
}

/// A void function with a pointer it can neither reject nor ignore fails.
#[test]
fn a_void_function_that_cannot_reject_null_fails() {
    let e = plan_errors(&edited("cf_future_free", |p| {
        p.params.push(Param {
            ty: "size_t *".into(),
            name: "count".into(),
        })
    }));
    assert!(e.contains("cannot report a NULL `count`"), "{e}");
}

/// An entry for a function the header no longer has fails, and so does an unreadable
/// declaration.
#[test]
fn stale_entries_and_unreadable_declarations_fail() {
    let mut protos = parse_header(&header_text()).expect("parses");
    protos.retain(|p| p.name != "cf_version");
    let e = plan_errors(&protos);
    assert!(e.contains("cf_version is in FUNCS"), "{e}");
    assert!(parse_header(&header_with("extern int cf_global_counter;")).is_err());
    assert!(parse_header(&header_with("void cf_with_inline_fn(void (*cb)(void));")).is_err());
}

/// The parser reads the shapes cbindgen writes.
#[test]
fn parser_reads_the_header_shapes() {
    let protos = parse_header(&header_text()).expect("parses");
    let wait = protos
        .iter()
        .find(|p| p.name == "cf_wait")
        .expect("cf_wait");
    let tys: Vec<(&str, &str)> = wait
        .params
        .iter()
        .map(|q| (q.ty.as_str(), q.name.as_str()))
        .collect();
    assert_eq!(
        tys,
        [
            ("cf_future *const *", "fs"),
            ("size_t", "n"),
            ("double", "timeout"),
            ("cf_return_when", "when"),
            ("bool *", "done"),
            ("size_t *", "n_done"),
        ]
    );
    assert_eq!(wait.ret, "cf_status");
    let ver = protos
        .iter()
        .find(|p| p.name == "cf_version")
        .expect("cf_version");
    assert!(ver.params.is_empty());
    assert_eq!(ver.ret, "const char *");
    // Typedefs of function pointers are not prototypes.
    assert!(!protos.iter().any(|p| p.name == "cf_task_fn"));
}
