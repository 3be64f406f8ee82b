import { render } from "preact";
import { Portal } from "./Portal";
import "./portal.css";

render(<Portal />, document.getElementById("portal")!);
