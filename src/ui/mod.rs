//! Pure views of the cockpit: `fn(&State, &Theme, Rect, &mut Buffer)`. Not built yet.
