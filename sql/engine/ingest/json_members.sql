-- json_members: macros, not a relation: the members of a JSON object as Go's decoder reads them into
-- a struct, for the slow path of parsed_lines.sql. A member may appear more than once: Go decodes
-- each occurrence in turn, so a null leaves the value as it was, a later value replaces an earlier
-- one, nested objects (shape) merge member by member, and an occurrence it cannot decode (a wrong
-- JSON type, a number that is not an int64 integer) fails the whole line.
-- keys: json_keys(object); vals: json_extract(object, '$.*') (every member's value, in order).

-- the JSON texts of every occurrence of member k, in order (empty when absent)
CREATE OR REPLACE TEMP MACRO member_texts(keys, vals, k) AS
    [CAST(vals[i] AS VARCHAR) FOR i IN range(1, len(keys) + 1) IF keys[i] = k];

-- the value Go ends with: the last occurrence that is not null (NULL when none)
CREATE OR REPLACE TEMP MACRO member_value(texts) AS
    [t FOR t IN texts IF t <> 'null'][-1];

-- every occurrence of a member of the shape objects among `shapes` (the texts of member shape), in order
CREATE OR REPLACE TEMP MACRO shape_member_texts(shapes, k) AS
    flatten([member_texts(json_keys(s), json_extract(s, '$.*'), k) FOR s IN shapes IF starts_with(s, '{')]);

-- every occurrence is null or a JSON text starting with c ('"' a string, '{' an object)
CREATE OR REPLACE TEMP MACRO texts_start_with(texts, c) AS
    coalesce(list_bool_and([t = 'null' OR starts_with(t, c) FOR t IN texts]), true);

-- every occurrence is null or an integer within int64 (yyjson writes any other number with '.' or 'e')
CREATE OR REPLACE TEMP MACRO int64_texts(texts) AS
    coalesce(list_bool_and([
        t = 'null' OR (regexp_full_match(t, '-?[0-9]+') AND TRY_CAST(t AS BIGINT) IS NOT NULL) FOR t IN texts
    ]), true);

-- every occurrence is null or a string holding an RFC 3339 time Go parses: the form, hours to 23,
-- minutes and seconds to 59 (no leap second), offsets to 23:59 and a date of the calendar (the last
-- non-null occurrence, the value, is read in full by parsed_lines.sql)
CREATE OR REPLACE TEMP MACRO texts_rfc3339(texts) AS
    coalesce(list_bool_and([
        t = 'null' OR (
            regexp_full_match(
                t,
                '"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"'
            )
            AND TRY_CAST(substr(t, 2, 10) AS DATE) IS NOT NULL
        ) FOR t IN texts
    ]), true);
