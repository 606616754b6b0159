//! Panels placed on Grafana's 24-column grid, row by row.

use serde_json::{Value, json};

/// Panels placed on Grafana's 24-column grid, top to bottom.
#[derive(Default)]
pub(super) struct Layout {
    pub(super) panels: Vec<Value>,
    x: u64,
    y: u64,
    row_height: u64,
    next_id: u64,
}

impl Layout {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn row(&mut self, mut row: Value) {
        self.y += self.row_height;
        self.x = 0;
        self.row_height = 0;
        row["id"] = json!(self.id());
        row["gridPos"] = json!({"h": 1, "w": 24, "x": 0, "y": self.y});
        self.panels.push(row);
        self.y += 1;
    }

    pub(super) fn add(&mut self, mut panel: Value, w: u64, h: u64) {
        if self.x + w > 24 {
            self.y += self.row_height;
            self.x = 0;
            self.row_height = 0;
        }
        panel["id"] = json!(self.id());
        panel["gridPos"] = json!({"h": h, "w": w, "x": self.x, "y": self.y});
        self.panels.push(panel);
        self.x += w;
        self.row_height = self.row_height.max(h);
    }
}
