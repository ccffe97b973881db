{#- The hours of a UTC day in which something happened, as a 24-bit mask. It lets the
    daily fact answer hourly questions (fan-out per hour, steady schedules) without
    keeping an hourly table as large as the traffic itself.
    Athena twin: bitwise_or_agg(bitwise_left_shift(1, hour(ts))) and bit_count(mask, 64). -#}
{% macro hour_bit(ts) -%} (1 << hour({{ ts }})) {%- endmacro %}
{% macro hour_is_set(mask, hour) -%} ((({{ mask }}) >> {{ hour }}) & 1) {%- endmacro %}
